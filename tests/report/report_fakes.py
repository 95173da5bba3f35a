"""Hand-made run directories for the report tests: the JSON files of the run-directory contract,
no training. Shapes follow what the stages write (stages/finetune.py, compress.py, pretrain.py,
learning_curve.py, pipeline/runner.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

EVIL = "<script>alert(1)</script>"
PARAMETERS = {"trainable": 1200, "total": 34409, "percent": 3.49}


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1))


def _prf(f1: float, support: int) -> dict[str, Any]:
    return {"precision": f1, "recall": f1, "f1": f1, "support": support}


def ner_dev_metrics(f1: float, types: tuple[str, ...]) -> dict[str, Any]:
    """Dev metrics shaped like evaluation.metrics.ner_metrics."""
    per_type = {t: _prf(round(f1 - 0.1 * i, 4), 12 + i) for i, t in enumerate(types)}
    tags = {"B-" + t: _prf(f1, 9) for t in types} | {"O": _prf(0.99, 300)}
    averages = {k: _prf(0.9, 330) for k in ("micro avg", "macro avg", "weighted avg")}
    return {
        "loss": 0.4,
        "precision": f1,
        "recall": f1,
        "f1": f1,
        "macro_f1": f1,
        "per_type": per_type,
        "token_report": tags | averages,
    }


def fake_finetune(
    path: Path, *, f1: float = 0.8123, types: tuple[str, ...] = ("LOC", "PER"), **kw: Any
) -> Path:
    """A finished NER fine-tuning run: manifest, config, metrics.json/jsonl, eval/dev, model/."""
    dev = ner_dev_metrics(f1, types)
    labels = ["O", *(f"{p}-{t}" for t in types for p in "BI")]
    write_json(
        path / "manifest.json",
        {
            "stage": "finetune",
            "task": "ner",
            "status": kw.get("status", "complete"),
            "parent": kw.get("parent"),
            "labels": labels,
            "parameters": PARAMETERS,
            "tuning": {"method": kw.get("method", "lora"), "base": None},
            "data": {
                "train": {"file": "/data/train.conll", "examples": 140},
                "dev": {"file": "/data/dev.conll", "examples": 40},
            },
        },
    )
    (path / "config.yaml").write_text(
        f"stage: finetune\nmodel:\n  name_or_path: {kw.get('model', 'base-model')}\n"
        "task:\n  name: ner\n  label_kind: single\ntrain:\n  lr: 0.0003\n"
    )
    history = [{"step": s, "kind": "train", "loss": 2.0 / s, "lr": 1e-3} for s in range(1, 9)]
    history += [
        {"step": s, "kind": "eval", "split": "validation", "loss": 1.5 / s, "f1": f1 * s / 8} for s in (4, 8)
    ]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
    train = {"examples": 140, "steps": 8, "best_step": 8, "train_seconds": 12.5, "parameters": PARAMETERS}
    selected = {"metric": "f1", "greater_is_better": True}
    write_json(path / "metrics.json", {"task": "ner", "dev": dev, "train": train, "selected_by": selected})
    write_json(
        path / "eval" / "dev" / "report.json",
        {"task": "ner", "title": "ner — dev (dev.conll)", "meta": {}, "metrics": dev},
    )
    (path / "model").mkdir(parents=True, exist_ok=True)
    (path / "model" / "model.safetensors").write_bytes(b"\0" * 2_500_000)
    return path


def fake_classification(path: Path, labels: tuple[str, ...] = ("neg", "pos")) -> Path:
    """A sentiment run with per-class scores and a confusion matrix, tuned with a PEFT adapter."""
    matrix = [[9 if i == j else 1 for j in range(len(labels))] for i in range(len(labels))]
    dev = {
        "accuracy": 0.9,
        "macro_f1": 0.6789,
        "per_class": {lab: _prf(0.6789, 10) for lab in labels},
        "confusion": {"labels": list(labels), "matrix": matrix},
    }
    write_json(
        path / "manifest.json",
        {
            "stage": "finetune",
            "task": "classification",
            "status": "complete",
            "labels": list(labels),
            "tuning": {"method": "lora"},
            "data": {"train": {"file": "train.csv", "examples": 5000}},
        },
    )
    (path / "config.yaml").write_text(
        "stage: finetune\ntask:\n  name: classification\n  label_kind: single\n"
    )
    write_json(path / "metrics.json", {"task": "classification", "dev": dev, "test": {"macro_f1": 0.6543}})
    write_json(
        path / "adapter" / "rawtune_adapter.json",
        {"format": "peft", "base": {"ref": "org/base-model"}, "head": {"num_labels": len(labels)}},
    )
    (path / "adapter" / "adapter_model.safetensors").write_bytes(b"\0" * 300_000)
    return path


def fake_compress(path: Path, parent: Path, *, f1: float = 0.8011) -> Path:
    write_json(
        path / "manifest.json",
        {
            "stage": "compress",
            "task": "ner",
            "status": "complete",
            "parent": str(parent),
            "method": {"quantize": "int8"},
            "labels": ["O", "B-LOC", "I-LOC"],
            "data": {"dev": {"file": "/data/dev.conll", "examples": 40}},
        },
    )
    (path / "config.yaml").write_text(f"stage: compress\nparent: {parent}\nquantize: int8\n")
    (path / "metrics.jsonl").write_text("")
    write_json(
        path / "metrics.json",
        {
            "task": "ner",
            "method": "quantize",
            "dev": {"f1": f1, "loss": 0.41},
            "parent": {"run": str(parent), "dev": {"f1": 0.8123, "loss": 0.4}},
            "size": {
                "parent": {"mb": 2.5, "parameters": 34409},
                "compressed": {"mb": 0.9876, "parameters": 34409},
            },
            "latency": {
                "parent": {"latency_ms": 4.2, "throughput": 900.0},
                "compressed": {"latency_ms": 2.1, "throughput": 1700.0},
                "threads": 2,
                "repeats": 3,
                "batch_size": 32,
                "latency_examples": 24,
            },
            "gate": {
                "metric": "f1",
                "metric_drop_points": 1.12,
                "speedup": 2.0,
                "max_metric_drop": 2.0,
                "min_speedup": 1.0,
                "accepted": True,
                "failed": [],
            },
        },
    )
    (path / "model").mkdir(parents=True, exist_ok=True)
    (path / "model" / "rawtune_quantized.json").write_text("{}")
    return path


def fake_pretrain(path: Path, *, loss: float = 3.25) -> Path:
    write_json(
        path / "manifest.json",
        {
            "stage": "pretrain",
            "status": "complete",
            "parent": None,
            "corpus": {"train_documents": 500, "train_tokens": 64000},
        },
    )
    (path / "config.yaml").write_text("stage: pretrain\nobjective:\n  name: mlm\n")
    (path / "metrics.jsonl").write_text(json.dumps({"step": 10, "kind": "train", "loss": 4.0}) + "\n")
    write_json(
        path / "metrics.json",
        {
            "stage": "pretrain",
            "objective": "mlm",
            "before": {"loss": 4.5, "perplexity": 90.0},
            "after": {"loss": loss, "perplexity": 25.8},
            "steps": 10,
            "train_seconds": 30.0,
        },
    )
    return path


CURVE = {
    "task": "ner",
    "metric": "f1",
    "split": "dev",
    "series": [
        {
            "name": "base",
            "model": "base-model",
            "points": [
                {"fraction": 0.01, "examples": 140, "run": "base/f0.01", "value": 0.5321},
                {"fraction": 0.1, "examples": 1400, "run": "base/f0.1", "value": 0.7712},
            ],
        },
        {
            "name": "tapt",
            "model": "runs/tapt",
            "points": [
                {"fraction": 0.01, "examples": 140, "run": "tapt/f0.01", "value": 0.6042},
                {"fraction": 0.1, "examples": 1400, "run": "tapt/f0.1", "value": 0.8034},
            ],
        },
    ],
}


def fake_curve(path: Path) -> Path:
    write_json(path / "manifest.json", {"stage": "learning_curve", "task": "ner", "status": "complete"})
    write_json(path / "learning_curve.json", CURVE)
    return path


EXTERNAL = re.compile(r"https?://|src=\"//|href=\"//|@import|url\((?!#)", re.IGNORECASE)


def assert_self_contained(html: str) -> None:
    """No reference to anything outside the file: no URL, no script, no external stylesheet/image."""
    found = EXTERNAL.search(html)
    assert found is None, f"external reference: {html[max(0, found.start() - 80) : found.end() + 80]!r}"
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert re.search(r"<img[^>]+src=\"(?!data:)", html) is None
