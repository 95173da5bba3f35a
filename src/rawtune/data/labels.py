"""Label spaces and tag schemes.

A `LabelSpace` is the ordered label set a head is trained on; it is built from training data only,
and dev/test/model labels are checked against it. Token tags are kept in IOB2 (`B-X` starts an
entity, `I-X` continues it); IOB1 and BIOES/BILOU input is converted on read.

Scheme detection (`detect_scheme`), over a whole file:
- any `E-`/`S-`/`L-`/`U-` tag → "bioes" (BILOU is read as its alias);
- else, if some `I-X` starts an entity (after `O`, another type or the sentence start) and every
  `B-X` in the file directly follows a `B-X`/`I-X` of the same type (IOB1's rule: `B-` only
  separates adjacent entities of one type) → "iob1";
- else "iob2". A file with entity-starting `I-` tags *and* `B-` tags at entity starts is IOB2 with
  invalid transitions; the reader refuses it unless asked to repair. The split is a heuristic: an
  IOB1 file is only recognisable by its `I-` starts, so a file may be declared with `scheme=`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rawtune.errors import DataError

PREFIXES = ("B", "I", "E", "S", "L", "U")
BIOES_ONLY = ("E", "S", "L", "U")
SCHEMES = ("iob1", "iob2", "bioes")
_ALIASES = {"bilou": "bioes", "bio": "iob2", "iob": "iob2"}


# --- tags ------------------------------------------------------------------------------------------
def parse_tag(tag: str) -> tuple[str, str] | None:
    """("O", "") for O, (prefix, type) for `B-X` etc., None for anything else."""
    if tag == "O":
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if sep and prefix in PREFIXES and kind.strip():
        return prefix, kind
    return None


def normalize_scheme(scheme: str) -> str:
    """'auto' or one of SCHEMES; 'bilou' is an alias of 'bioes'."""
    name = _ALIASES.get(scheme.lower(), scheme.lower())
    if name != "auto" and name not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r} (use auto, {', '.join(SCHEMES)} or bilou)")
    return name


def _starts_entity(prev: str | None, tag: str) -> bool:
    """True when an `I-X` at this position cannot continue an entity (IOB2 rule)."""
    kind = tag[2:]
    return prev is None or prev[2:] != kind or prev[:1] not in ("B", "I")


def is_valid_iob2(tags: Sequence[str]) -> int | None:
    """Index of the first tag that is not IOB2 or is an `I-X` not following `B-X`/`I-X`; None if valid."""
    prev: str | None = None
    for i, tag in enumerate(tags):
        parsed = parse_tag(tag)
        if parsed is None or parsed[0] not in ("O", "B", "I"):
            return i
        if parsed[0] == "I" and _starts_entity(prev, tag):
            return i
        prev = tag
    return None


def repair_iob2(tags: Sequence[str]) -> tuple[list[str], int]:
    """Turn every `I-X` that starts an entity into `B-X`; returns (tags, number changed)."""
    out: list[str] = []
    changed = 0
    for tag in tags:
        if tag.startswith("I-") and _starts_entity(out[-1] if out else None, tag):
            tag = "B-" + tag[2:]
            changed += 1
        out.append(tag)
    return out, changed


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """IOB1 (`I-` everywhere, `B-` only between adjacent same-type entities) → IOB2."""
    return repair_iob2(tags)[0]


def bioes_to_iob2(tags: Sequence[str]) -> list[str]:
    """BIOES/BILOU → IOB2: S-/U- become B-, E-/L- become I-."""
    mapping = {"S": "B", "U": "B", "E": "I", "L": "I"}
    return [mapping[t[0]] + t[1:] if t[:1] in mapping and t[1:2] == "-" else t for t in tags]


def iob2_to_bioes(tags: Sequence[str]) -> list[str]:
    """IOB2 → BIOES (for writing). An `I-X` that starts an entity is read as `B-X`."""
    tags = repair_iob2(tags)[0]
    out = []
    for i, tag in enumerate(tags):
        if tag == "O":
            out.append(tag)
            continue
        continues = i + 1 < len(tags) and tags[i + 1] == "I-" + tag[2:]
        if tag.startswith("B-"):
            out.append(("B-" if continues else "S-") + tag[2:])
        else:
            out.append(("I-" if continues else "E-") + tag[2:])
    return out


def detect_scheme(tag_lists: Iterable[Sequence[str]]) -> str:
    """'bioes', 'iob1' or 'iob2' for tags read from one file (see the module docstring)."""
    i_starts = False
    b_starts = False
    for tags in tag_lists:
        prev: str | None = None
        for tag in tags:
            head = tag[:1]
            if head in BIOES_ONLY and tag[1:2] == "-":
                return "bioes"
            if head in ("B", "I") and tag[1:2] == "-" and _starts_entity(prev, tag):
                if head == "I":
                    i_starts = True
                else:
                    b_starts = True
            prev = tag
    return "iob1" if i_starts and not b_starts else "iob2"


# --- label spaces ----------------------------------------------------------------------------------
def get_entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, first word, last word) of every entity in `tags`, read as seqeval's default
    (lenient) `get_entities` reads them — an `I-X` after `O` or another type starts an entity —
    with the same result, without importing seqeval (and scikit-learn behind it) to predict."""
    chunks = []
    prev_tag, prev_type, begin = "O", "", 0
    for i, chunk in enumerate([*tags, "O"]):
        tag, type_ = chunk[0], chunk[1:].split("-", maxsplit=1)[-1] or "_"
        changed = prev_type != type_
        if prev_tag in "ES" or (prev_tag in "BI" and tag in "BSO") or (prev_tag not in "O." and changed):
            chunks.append((prev_type, begin, i - 1))
        if tag in "BS" or (prev_tag in "ESO" and tag in "EI") or (tag not in "O." and changed):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


def _natural_key(labels: Sequence[str]) -> Any:
    try:
        values = [float(x) for x in labels]
    except ValueError:
        return None
    if any(v != v for v in values):  # NaN
        return None
    return float


@dataclass(frozen=True)
class LabelSpace:
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"duplicate labels in {list(self.labels)}")

    def __len__(self) -> int:
        return len(self.labels)

    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    @classmethod
    def from_tags(cls, tag_lists: Iterable[Sequence[str] | None]) -> LabelSpace:
        """NER space from IOB2 training tags: `O`, then `B-T`, `I-T` for every type T, by type."""
        types: set[str] = set()
        seen = False
        for tags in tag_lists:
            for tag in tags or ():
                seen = True
                parsed = parse_tag(tag)
                if parsed is None or parsed[0] not in ("O", "B", "I"):
                    raise DataError(f"'{tag}' is not an IOB2 tag (B-X, I-X or O)", field="tag")
                if parsed[1]:
                    types.add(parsed[1])
        if not seen:
            raise DataError("no tags in the training data", field="tag")
        if not types:
            raise DataError("the training data has no entities: every tag is O", field="tag")
        return cls(("O", *(f"{p}-{t}" for t in sorted(types) for p in ("B", "I"))))

    @classmethod
    def from_labels(cls, labels: Iterable[str]) -> LabelSpace:
        """Classification space: distinct labels sorted (numerically when all are numbers)."""
        distinct = set(labels)
        if not distinct:
            raise DataError("no labels in the training data", field="label")
        if len(distinct) == 1:
            raise DataError(
                f"only one label in the training data ({next(iter(distinct))!r}); "
                "a classifier needs at least two",
                field="label",
            )
        return cls(tuple(sorted(distinct, key=_natural_key(list(distinct)))))

    @classmethod
    def from_examples(cls, examples: Sequence[Any]) -> LabelSpace:
        """From TokenExamples (tags) or TextExamples (str / list labels; float → ('score',))."""
        if not examples:
            raise DataError("no training examples")
        if hasattr(examples[0], "tags"):
            return cls.from_tags(ex.tags for ex in examples)
        if isinstance(examples[0].label, float):
            return cls(("score",))
        flat: list[str] = []
        for ex in examples:
            flat += list(ex.label) if isinstance(ex.label, list) else [ex.label]
        return cls.from_labels(flat)


def entity_types(space: LabelSpace) -> list[str]:
    """Sorted entity types of an IOB2/BIOES label space."""
    types = {p[1] for p in map(parse_tag, space.labels) if p is not None and p[1]}
    return sorted(types)


def check_subset(
    space: LabelSpace,
    other_labels: Iterable[str] | Mapping[str, str],
    *,
    what: str,
    file: str | None = None,
) -> None:
    """Raise when `other_labels` (dev/test labels, or label → 'file:line' of its first occurrence)
    holds labels the training data never had: a head cannot predict them."""
    known = set(space.labels)
    where = other_labels if isinstance(other_labels, Mapping) else {}
    unseen = list(dict.fromkeys(label for label in other_labels if label not in known))
    if not unseen:
        return
    shown = [f"'{lab}'" + (f" (first at {where[lab]})" if lab in where else "") for lab in unseen[:20]]
    more = f" and {len(unseen) - 20} more" if len(unseen) > 20 else ""
    raise DataError(
        f"{what} has {len(unseen)} label(s) not in the training data: {', '.join(shown)}{more}; "
        f"training labels: {list(space.labels)}",
        file=file,
        field="label",
    )


def compare_to_model(space: LabelSpace, model_id2label: Mapping[Any, str]) -> str | None:
    """None when a model head's labels equal the data's in the same order, else what differs."""
    model = [model_id2label[k] for k in sorted(model_id2label, key=int)]
    data = list(space.labels)
    if model == data:
        return None
    missing = [lab for lab in data if lab not in set(model)]
    extra = [lab for lab in model if lab not in set(data)]
    parts = []
    if missing:
        parts.append(f"labels missing from the model: {missing}")
    if extra:
        parts.append(f"labels only in the model: {extra}")
    if len(model) != len(data):
        parts.append(f"the model head has {len(model)} labels, the data {len(data)}")
    if not parts:
        return f"same labels in a different order: model {model} vs data {data}"
    return "; ".join(parts)
