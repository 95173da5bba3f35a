"""Evaluation metrics: pure functions from gold and predicted labels to JSON-ready dicts.

Entities are scored by seqeval, everything else by scikit-learn (scipy for correlations), so the
numbers match what the rest of the field reports; nothing here hand-rolls an F1. Every value
returned is a plain Python int/float/str/None (never a numpy scalar, never NaN), so a result goes
straight into `json.dumps`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rawtune.config.options import TASK_MODULES
from rawtune.registry import Registry


@dataclass(frozen=True)
class ReportKind:
    """A kind of evaluation report (ner, classification, multilabel, regression, qa, ...): the
    metric it leads with, which is its task's model-selection metric, and a note on its numbers."""

    metric: str
    greater_is_better: bool = True
    note: str = ""

    @property
    def primary(self) -> tuple[str, bool]:
        return self.metric, self.greater_is_better


# The tasks own their report kinds (`Task.report_kinds`) and register them with themselves, so a
# report asks the task that wrote it.
REPORT_KINDS: Registry[ReportKind] = Registry("report kind", members=TASK_MODULES)
_AVG_ROWS = ("micro avg", "macro avg", "weighted avg")


def report_kind(kind: str) -> ReportKind:
    if kind not in REPORT_KINDS:
        raise ValueError(f"unknown task {kind!r}; known: {', '.join(REPORT_KINDS)}")
    return REPORT_KINDS.get(kind)


def primary_metric(kind: str) -> tuple[str, bool]:
    """(the metric a report of this kind leads with: the task's model-selection metric, greater is
    better)."""
    return report_kind(kind).primary


def _row(p: Any, r: Any, f: Any, s: Any) -> dict[str, Any]:
    return {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}


def _from_report(r: dict[str, Any]) -> dict[str, Any]:
    """A row of a seqeval/sklearn `output_dict` report, with `f1-score` renamed to `f1`."""
    return _row(r["precision"], r["recall"], r["f1-score"], r["support"])


def _check_lengths(gold: Sequence[Any], pred: Sequence[Any], unit: str) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} {unit}s but pred has {len(pred)}")
    if not gold:
        raise ValueError(f"no {unit}s to evaluate")


def _check_known(labels: Sequence[str], **columns: Sequence[Any]) -> None:
    """A label outside `labels` would silently vanish from sklearn's per-label tables; refuse it."""
    known = set(labels)
    for name, values in columns.items():
        unknown = sorted({str(v) for v in values if v not in known})
        if unknown:
            raise ValueError(f"{name} has labels not in `labels`: {', '.join(unknown[:10])}")


# --- NER ------------------------------------------------------------------------------------------
def _check_tags(gold: list[list[str]], pred: list[list[str]]) -> None:
    _check_lengths(gold, pred, "sentence")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: gold has {len(g)} tags but pred has {len(p)}")
        for side, tags in (("gold", g), ("pred", p)):
            for j, tag in enumerate(tags):
                prefix, sep, kind = tag.partition("-")
                # seqeval's strict mode fails on anything else with a bare KeyError.
                if tag != "O" and not (sep and prefix in ("B", "I") and kind):
                    raise ValueError(f"sentence {i}, token {j}: {side} tag {tag!r} is not IOB2")


def tag_order(tags: set[str]) -> list[str]:
    """B-LOC, I-LOC, B-MISC, I-MISC, ..., O: grouped by entity type, B before I, O last."""

    def key(tag: str) -> tuple[int, str, str]:
        prefix, _, kind = tag.partition("-")
        return (1, "", "") if tag == "O" else (0, kind, prefix)

    return sorted(tags, key=key)


def ner_metrics(gold: list[list[str]], pred: list[list[str]]) -> dict[str, Any]:
    """Entity-level scores (seqeval, strict IOB2) plus a token-level per-tag report (sklearn).

    Strict mode counts an entity only when its boundaries and type match exactly, the way CoNLL's
    conlleval does for IOB2. An `I-X` that does not continue a `B-X`/`I-X` (after `O`, another
    type, or at the sentence start) starts no entity at all: predicting `I-PER I-PER` for a gold
    `B-PER I-PER` is a miss, not a hit. (seqeval's default mode would instead repair such tags into
    an entity and warn about tags it cannot parse; strict mode never guesses.)

    Keys: precision, recall, f1 (micro over entities), per_type {TYPE: {precision, recall, f1,
    support}} sorted by type, macro_f1 over types (None when there are no entities at all),
    n_sentences, n_tokens, n_gold_entities, n_pred_entities, token_report (see `token_metrics`),
    token_accuracy, confusion (see `type_confusion`).
    """
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2, Entities

    _check_tags(gold, pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the macro avg of zero types is a mean of nothing
        rep = classification_report(gold, pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    types = sorted(k for k in rep if k not in _AVG_ROWS)
    per_type = {t: _from_report(rep[t]) for t in types}
    micro = rep["micro avg"]
    return {
        "precision": float(micro["precision"]),
        "recall": float(micro["recall"]),
        "f1": float(micro["f1-score"]),
        "macro_f1": float(rep["macro avg"]["f1-score"]) if types else None,
        "per_type": per_type,
        "n_sentences": len(gold),
        "n_tokens": sum(map(len, gold)),
        "n_gold_entities": sum(map(len, Entities(gold, IOB2).entities)),
        "n_pred_entities": sum(map(len, Entities(pred, IOB2).entities)),
        **token_metrics(gold, pred),
        "confusion": type_confusion(gold, pred),
    }


def type_confusion(gold: list[list[str]], pred: list[list[str]]) -> dict[str, Any]:
    """Token-level confusion between entity types, B-/I- folded into the type and O kept: rows gold,
    columns predictions, types sorted and O last. It shows which types are mistaken for which (ORG
    read as LOC) and what is missed (X -> O) or invented (O -> X); boundary errors are in the per-tag
    report."""
    from sklearn.metrics import confusion_matrix

    def fold(tag: str) -> str:
        return tag[2:] if tag[:2] in ("B-", "I-", "E-", "S-") else tag

    flat_gold = [fold(t) for sent in gold for t in sent]
    flat_pred = [fold(t) for sent in pred for t in sent]
    labels = [*sorted((set(flat_gold) | set(flat_pred)) - {"O"}), "O"]
    return {"labels": labels, "matrix": confusion_matrix(flat_gold, flat_pred, labels=labels).tolist()}


def token_metrics(gold: list[list[str]], pred: list[list[str]]) -> dict[str, Any]:
    """{"token_report": {tag: {precision, recall, f1, support}, "micro avg", "macro avg",
    "weighted avg"}, "token_accuracy"} over the flattened tags, in `tag_order`.

    Every tag seen in gold or pred is a row, so the micro average equals token accuracy."""
    from sklearn.metrics import accuracy_score, classification_report, precision_recall_fscore_support

    flat_gold = [t for sent in gold for t in sent]
    flat_pred = [t for sent in pred for t in sent]
    if not flat_gold:
        raise ValueError("no tokens to evaluate")
    tags = tag_order(set(flat_gold) | set(flat_pred))
    rep = classification_report(flat_gold, flat_pred, labels=tags, output_dict=True, zero_division=0)
    report = {t: _from_report(rep[t]) for t in tags}
    micro = precision_recall_fscore_support(
        flat_gold, flat_pred, labels=tags, average="micro", zero_division=0
    )
    report["micro avg"] = _row(*micro[:3], len(flat_gold))
    for avg in ("macro avg", "weighted avg"):
        report[avg] = _from_report(rep[avg])
    return {"token_report": report, "token_accuracy": float(accuracy_score(flat_gold, flat_pred))}


def format_token_report(token_report: dict[str, dict[str, Any]], digits: int = 4) -> str:
    """The text table of sklearn's `classification_report`, from a `token_metrics` report.

    Laid out exactly as sklearn prints it; since the report covers every tag, its micro average is
    the accuracy and is printed as sklearn's `accuracy` line."""
    rows = [name for name in token_report if name not in _AVG_ROWS]
    width = max(len("weighted avg"), digits, *(len(name) for name in rows))

    def line(name: str, r: dict[str, Any]) -> str:
        nums = "".join(f" {r[k]:>9.{digits}f}" for k in ("precision", "recall", "f1"))
        return f"{name:>{width}s} {nums} {r['support']:>9}\n"

    out = f"{'':>{width}s} " + "".join(f" {h:>9}" for h in ("precision", "recall", "f1-score", "support"))
    out += "\n\n" + "".join(line(name, token_report[name]) for name in rows) + "\n"
    micro = token_report["micro avg"]
    blank = f" {'':>9.{digits}}"
    out += f"{'accuracy':>{width}s} {blank}{blank} {micro['f1']:>9.{digits}f} {micro['support']:>9}\n"
    return out + "".join(line(avg, token_report[avg]) for avg in ("macro avg", "weighted avg"))


# --- classification -------------------------------------------------------------------------------
def _present(labels: Sequence[str], *columns: Sequence[Any]) -> list[str]:
    """Labels that occur in gold or pred: the set sklearn averages over when not given `labels`."""
    seen = {v for col in columns for v in col}
    return [lab for lab in labels if lab in seen]


def classification_metrics(gold: list[str], pred: list[str], labels: list[str]) -> dict[str, Any]:
    """Single-label scores. per_class lists every label in `labels` order (zero support included),
    but macro/weighted F1 average only over labels present in gold or pred, as sklearn does by
    default: a label absent from the evaluation set would otherwise count as an F1 of 0 and make
    the number incomparable with everyone else's. Confusion rows are gold, columns predictions."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    _check_lengths(gold, pred, "example")
    _check_known(labels, gold=gold, pred=pred)
    present = _present(labels, gold, pred)
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=labels, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(gold, pred)),
        "macro_f1": float(f1_score(gold, pred, labels=present, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(gold, pred, labels=present, average="micro", zero_division=0)),
        "weighted_f1": float(f1_score(gold, pred, labels=present, average="weighted", zero_division=0)),
        "per_class": {lab: _row(*vals) for lab, *vals in zip(labels, p, r, f, s)},
        "confusion": {"labels": list(labels), "matrix": confusion_matrix(gold, pred, labels=labels).tolist()},
        "n": len(gold),
    }


def multilabel_metrics(gold: list[list[str]], pred: list[list[str]], labels: list[str]) -> dict[str, Any]:
    """Multi-label scores over label sets. Macro F1 averages over labels present in gold or pred
    (as `classification_metrics`). samples_f1 scores an example with no gold and no predicted
    labels as 1: it is exactly right, and sklearn's 0/0 default would count it as wrong."""
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
    from sklearn.preprocessing import MultiLabelBinarizer

    _check_lengths(gold, pred, "example")
    _check_known(labels, gold=[v for g in gold for v in g], pred=[v for p in pred for v in p])
    mlb = MultiLabelBinarizer(classes=list(labels))
    y_true, y_pred = mlb.fit_transform(gold), mlb.transform(pred)
    keep = [j for j in range(len(labels)) if y_true[:, j].any() or y_pred[:, j].any()]
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    macro = f1_score(y_true[:, keep], y_pred[:, keep], average="macro", zero_division=0) if keep else 0.0
    return {
        "micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
        "macro_f1": float(macro),
        "samples_f1": float(f1_score(y_true, y_pred, average="samples", zero_division=1.0)),
        "subset_accuracy": float(accuracy_score(y_true, y_pred)),
        "per_class": {lab: _row(*vals) for lab, *vals in zip(labels, p, r, f, s)},
        "n": len(gold),
    }


def regression_metrics(gold: list[float], pred: list[float]) -> dict[str, Any]:
    """pearson, spearman, mse, mae, n. A correlation with a constant side (or under two examples)
    is undefined: it is None, where scipy would warn and return NaN."""
    import numpy as np
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    _check_lengths(gold, pred, "example")
    y_true, y_pred = np.asarray(gold, dtype=float), np.asarray(pred, dtype=float)
    defined = len(y_true) > 1 and np.ptp(y_true) > 0 and np.ptp(y_pred) > 0
    return {
        "pearson": float(pearsonr(y_true, y_pred).statistic) if defined else None,
        "spearman": float(spearmanr(y_true, y_pred).statistic) if defined else None,
        "mse": float(mean_squared_error(y_true, y_pred)),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "n": len(gold),
    }
