"""A pretraining run's summary (metrics.json): validation loss and perplexity before and after, each
phase's, and the verdict on adaptation. Adaptation is judged from the model as given with a trained
head (after the head warm-up, else before training): a run whose validation loss ends no better
than that warns, in the log and the report, since it made held-out text of its own corpus no easier
to predict (and, with train.restore_best, kept the model as it was)."""

from __future__ import annotations

import logging
from typing import Any

from rawtune.config.schema import PretrainConfig
from rawtune.train.fit import FitResult

log = logging.getLogger("rawtune")


def summary(cfg: PretrainConfig, corpus: Any, result: FitResult) -> dict[str, Any]:
    st = result.state
    out: dict[str, Any] = {
        "stage": "pretrain",
        "objective": cfg.objective.name,
        "before": result.before,
        "after": result.after,
        "best": st["best"],
        "best_step": st["best_step"],
        "steps": st["step"],
        "total_steps": result.total_steps,
        "tokens_seen": st["tokens_seen"],
        "train_seconds": st["train_seconds"],
        "tokens_per_s": st["tokens_seen"] / st["train_seconds"] if st["train_seconds"] else 0.0,
        "resumed_from": result.resumed_from,
        "corpus": corpus.stats.to_dict(),
    }
    if result.phases:
        out["phases"] = result.phases
        out["head_warmup"] = result.phases[0]
    verdict = adaptation(result)
    if verdict is not None:
        out["adaptation"] = verdict
    out["warnings"] = warnings(verdict)
    for w in out["warnings"]:
        log.warning(w)
    return out


def adaptation(result: FitResult) -> dict[str, Any] | None:
    """Validation loss and perplexity from the model as given (its head trained) to the final one;
    None without validation blocks."""
    start = result.phases[-1]["before"] if result.phases else result.before
    end = result.after
    if not start or not end or "loss" not in start or "loss" not in end:
        return None
    first = result.phases[-1]["first_step"] - 1 if result.phases else 0
    return {
        "from": "head warm-up" if result.phases else "before training",
        "loss": [start["loss"], end["loss"]],
        "perplexity": [start.get("perplexity"), end.get("perplexity")],
        "change": end["loss"] - start["loss"],
        "improved": end["loss"] < start["loss"],
        "kept_start": result.state["best_step"] == first and first > 0,
    }


def warnings(verdict: dict[str, Any] | None) -> list[str]:
    if verdict is None or verdict["improved"]:
        return []
    (a, b), (pa, pb) = verdict["loss"], verdict["perplexity"]
    if verdict["kept_start"]:
        return [
            f"continued pretraining never lowered validation loss below the model as given with its "
            f"head trained ({a:.4f}{_ppl(pa)}): its encoder is kept unchanged"
        ]
    return [
        f"continued pretraining made validation loss worse: {a:.4f} -> {b:.4f}{_ppl(pa, pb)}; "
        "try a lower train.lr or fewer steps"
    ]


def _ppl(*values: float | None) -> str:
    if any(v is None for v in values):
        return ""
    return ", perplexity " + " -> ".join(f"{v:.1f}" for v in values)
