"""Evaluation reports: files, round-trips, Markdown content, plots, and the no-matplotlib path."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from rawtune.evaluation import charts
from rawtune.evaluation.metrics import (
    classification_metrics,
    format_token_report,
    ner_metrics,
    regression_metrics,
)
from rawtune.evaluation.report import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HISTORY = [
    *({"step": s, "kind": "train", "loss": 2.0 / s} for s in (10, 20, 30, 40, 50)),
    {"step": 25, "kind": "eval", "split": "validation", "loss": 1.2, "f1": 0.4},
    {"step": 50, "kind": "eval", "split": "validation", "loss": 0.9, "f1": 0.6},
]


def ner_result() -> dict:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    return {"loss": 0.5, **ner_metrics(gold, pred)}


def strict_json(path: Path) -> dict:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in {path}")

    return json.loads(path.read_text(), parse_constant=refuse)


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC


def assert_no_temp_files(out: Path) -> None:
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_ner_report(tmp_path: Path) -> None:
    metrics = ner_result()
    meta = {"model": "tiny-bert", "data": "test.conll", "examples": 2}
    out = tmp_path / "eval" / "test"
    written = write_report(out, task="ner", metrics=metrics, title="NER test", history=HISTORY, meta=meta)
    assert set(written) == {
        "report.json",
        "report.md",
        "training_curves.png",
        "per_type_f1.png",
        "confusion_matrix.png",  # entity types, token level
    }
    assert all(p.parent == out and p.is_file() for p in written.values())
    assert strict_json(out / "report.json") == {
        "task": "ner",
        "title": "NER test",
        "meta": meta,
        "metrics": metrics,
    }
    md = (out / "report.md").read_text()
    assert md.startswith("# NER test\n")
    assert "- **model**: tiny-bert" in md and "- **data**: test.conll" in md
    assert "| **f1** | 0.6667 |" in md  # the selection metric, first and in bold
    assert "| ORG | 0.5000 | 1.0000 | 0.6667 | 1 |" in md
    assert "| B-LOC | 0.0000 | 0.0000 | 0.0000 | 1 |" in md
    assert f"```text\n{format_token_report(metrics['token_report'])}```" in md
    assert "![training curves](training_curves.png)" in md and "![per type f1](per_type_f1.png)" in md
    assert_png(written["training_curves.png"])
    assert_png(written["per_type_f1.png"])
    assert_no_temp_files(out)


def test_classification_report(tmp_path: Path) -> None:
    metrics = classification_metrics(["a", "a", "b", "c|d"], ["a", "b", "b", "a"], ["a", "b", "c|d", "e"])
    written = write_report(tmp_path, task="classification", metrics=metrics, title="cls", meta={"n": 4})
    # no history: no curves; the confusion matrix is drawn
    assert set(written) == {"report.json", "report.md", "confusion_matrix.png"}
    assert_png(written["confusion_matrix.png"])
    md = (tmp_path / "report.md").read_text()
    assert "| **macro_f1** |" in md and "| accuracy | 0.5000 |" in md
    assert "| e | 0.0000 | 0.0000 | 0.0000 | 0 |" in md  # zero-support label still listed
    # rows gold, columns predicted; a "|" inside a label is escaped so the table keeps its shape
    assert "| gold \\ predicted | a | b | c\\|d | e |" in md
    assert "| **a** | 1 | 1 | 0 | 0 |" in md
    assert "| **c\\|d** | 1 | 0 | 0 | 0 |" in md
    assert strict_json(tmp_path / "report.json")["metrics"]["confusion"] == metrics["confusion"]


def test_report_json_is_strict_with_numpy_and_nan(tmp_path: Path) -> None:
    metrics = {"loss": np.float32(float("nan")), **regression_metrics([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])}
    metrics["n"] = np.int64(3)
    write_report(
        tmp_path, task="regression", metrics=metrics, title="reg", history=[], meta={"data": tmp_path}
    )
    report = strict_json(tmp_path / "report.json")
    assert report["metrics"]["loss"] is None and report["metrics"]["pearson"] is None
    assert report["metrics"]["n"] == 3 and report["meta"] == {"data": str(tmp_path)}
    md = (tmp_path / "report.md").read_text()
    assert "| **pearson** | n/a |" in md and "| mse | 0.6667 |" in md
    assert "Plots" not in md  # nothing to draw: no empty section either


def test_large_confusion_is_only_in_json(tmp_path: Path) -> None:
    labels = [f"l{i}" for i in range(charts.MAX_CONFUSION_LABELS + 1)]
    metrics = classification_metrics(labels, labels, labels)
    written = write_report(tmp_path, task="classification", metrics=metrics, title="many")
    assert "confusion_matrix.png" not in written
    assert "51 labels: too many to show here" in (tmp_path / "report.md").read_text()


def test_without_matplotlib_plots_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    monkeypatch.setattr(charts, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="rawtune"):
        for split in ("validation", "test"):
            written = write_report(
                tmp_path / split, task="ner", metrics=ner_result(), title=split, history=HISTORY
            )
            assert set(written) == {"report.json", "report.md"}
            assert not list((tmp_path / split).glob("*.png"))
            assert "pip install 'rawtune[plots]'" in (tmp_path / split / "report.md").read_text()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "rawtune[plots]" in warnings[0].getMessage()


def test_unknown_task_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown task"):
        write_report(tmp_path / "out", task="nre", metrics={}, title="typo")
    assert not (tmp_path / "out").exists()
