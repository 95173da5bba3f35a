"""The configuration and data parts of a run report: the resolved config (key settings up front,
the whole file folded away) and what the data looked like (sizes, lengths, label distribution,
windows cut at max_length, repairs the reader made)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rawtune.reporting.files import obj
from rawtune.reporting.markup import (
    NA,
    Raw,
    bar,
    details,
    is_number,
    kv_table,
    note,
    num,
    pct,
    pre,
    section,
    sub,
    table,
)
from rawtune.reporting.runinfo import RunInfo

KEY_SETTINGS = (
    "model.name_or_path",
    "parent",
    "task.name",
    "task.label_kind",
    "objective.name",
    "tuning.method",
    "quantize",
    "onnx",
    "data.max_length",
    "data.seq_len",
    "train.epochs",
    "train.max_steps",
    "train.batch_size",
    "train.lr",
    "train.scheduler",
    "train.precision",
    "seed",
    "rawtune_version",
)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def config_section(info: RunInfo) -> Raw:
    if info.config_text is None:
        return section("Configuration", note("config.yaml is missing."), anchor="config")
    flat = flatten(info.config)
    pairs = [(k, _plain(flat[k])) for k in KEY_SETTINGS if k in flat and flat[k] not in (None, "", [])]
    parts = [kv_table(pairs) if pairs else Raw("")]
    parts.append(details("Full resolved config (config.yaml)", pre(info.config_text)))
    if info.finetune_config is not info.config:
        parts.append(
            note("finetune.yaml beside it holds the parent's fine-tuning config (task, labels, data).")
        )
    return section("Configuration", *parts, anchor="config")


def _plain(v: Any) -> str:
    """A config value as YAML shows it (3.0 stays 3.0, a list is joined)."""
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return str(v).lower() if isinstance(v, bool) else str(v)


def data_section(info: RunInfo) -> Raw:
    stats = {k: v for k, v in (info.data_stats or {}).items() if isinstance(v, dict)}
    if stats:
        parts = [_splits_table(stats), _distribution(stats), _tags(stats), _repairs_note(stats)]
        return section("Data", *parts, anchor="data")
    parts = []
    data = info.manifest.get("data")
    if isinstance(data, dict) and data:
        rows = [
            [s, Path(str(d.get("file", NA))).name, d.get("examples")]
            for s, d in data.items()
            if isinstance(d, dict)
        ]
        parts.append(table(["split", "file", "examples"], rows))
    corpus = info.manifest.get("corpus") or info.metrics.get("corpus")
    if isinstance(corpus, dict) and corpus:
        parts.append(sub("Raw-text corpus", kv_table(corpus.items())))
    if not parts:
        return Raw("")
    if info.stage == "finetune":
        parts.append(note("data_stats.json was not recorded for this run (written by newer versions)."))
    return section("Data", *parts, anchor="data")


def _length(d: Any, key: str) -> Any:
    return d.get(key) if isinstance(d, dict) else None


def _splits_table(stats: dict[str, Any]) -> Raw:
    header = ["split", "file", "examples", "words mean", "words p95", "words max", "repairs"]
    rows = []
    for split, s in stats.items():
        words = obj(s.get("words"))
        rows.append(
            [
                split,
                Path(str(s.get("file", NA))).name,
                s.get("examples"),
                _length(words, "mean"),
                _length(words, "p95"),
                _length(words, "max"),
                s.get("repairs"),
            ]
        )
    parts = [table(header, rows, digits=1)]
    train = obj(stats.get("train"))
    if "model_tokens" in train:
        toks = obj(train["model_tokens"])
        facts = [
            ("training windows", train.get("windows")),
            (
                "model tokens per window (mean / p95 / max)",
                f"{num(toks.get('mean'), 1)} / {num(toks.get('p95'))} / {num(toks.get('max'))}",
            ),
            ("max_length", train.get("max_length")),
            ("windows at max_length (inputs split)", train.get("windows_at_max_length")),
            ("sentences without entities", train.get("sentences_without_entities")),
        ]
        parts.append(kv_table((k, v) for k, v in facts if v is not None))
    return Raw("".join(parts))


def _distribution(stats: dict[str, Any]) -> Raw:
    """Entities per type (NER) or examples per label, one column per split, with the training share."""
    key = "entities" if any("entities" in s for s in stats.values()) else "labels"
    per_split = {split: s[key] for split, s in stats.items() if isinstance(s.get(key), dict)}
    if not per_split:
        targets = [(split, s["targets"]) for split, s in stats.items() if isinstance(s.get("targets"), dict)]
        rows = [[split, t.get("min"), t.get("mean"), t.get("max")] for split, t in targets]
        return sub("Regression targets", table(["split", "min", "mean", "max"], rows)) if rows else Raw("")
    names = list(dict.fromkeys(n for counts in per_split.values() for n in counts))
    splits = list(per_split)
    first = {n: v for n, v in per_split[splits[0]].items() if is_number(v)}
    total = sum(first.values()) or 1
    share = {n: first.get(n, 0) / total for n in names}
    rows = [[n, *(per_split[s].get(n, 0) for s in splits), pct(share[n]), bar(share[n])] for n in names]
    header = ["entity type" if key == "entities" else "label", *splits, f"share of {splits[0]}", ""]
    return sub("Label distribution", table(header, rows))


def _tags(stats: dict[str, Any]) -> Raw:
    per_split = {split: s["tags"] for split, s in stats.items() if isinstance(s.get("tags"), dict)}
    if not per_split:
        return Raw("")
    names = list(dict.fromkeys(t for tags in per_split.values() for t in tags))
    rows = [[t, *(per_split[s].get(t, 0) for s in per_split)] for t in names]
    return details("Tag counts (token level)", table(["tag", *per_split], rows))


def _repairs_note(stats: dict[str, Any]) -> Raw:
    repaired = {s: v.get("repairs") for s, v in stats.items() if v.get("repairs")}
    if not repaired:
        return note("The reader repaired nothing.")
    text = ", ".join(f"{s}: {n}" for s, n in repaired.items())
    return note(f"Tags repaired by the reader (an I-X starting an entity became B-X): {text}.")
