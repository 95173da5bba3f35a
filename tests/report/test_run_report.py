"""RUN/report.html: written at the end of fine-tuning, built from the run-directory files, tolerant
of missing ones, escaping run data, self-contained."""

from __future__ import annotations

import html as htmllib
import json
import logging
import shutil
import sys

import pytest
from report_fakes import (
    EVIL,
    assert_self_contained,
    fake_classification,
    fake_compress,
    fake_curve,
    fake_finetune,
    fake_pretrain,
)

from rawtune.reporting import write_run_report
from rawtune.reporting.write import build_run_report


def _card(label: str, value: str) -> str:
    return f'<div class="label">{label}</div><div class="value">{value}</div>'


def test_finetune_writes_a_full_report(ner_run):
    page = ner_run.path / "report.html"
    assert page.is_file(), "run_finetune writes RUN/report.html at the end"
    html = page.read_text()
    metrics = json.loads(ner_run.metrics_json.read_text())
    dev = metrics["dev"]
    assert _card("dev f1", f"{dev['f1']:.4f}") in html
    assert f'<td class="num">{dev["loss"]:.4f}</td>' in html  # the dev loss in the metrics table
    for kind in dev["per_type"]:
        assert f"<td>{kind}</td>" in html
    assert "Per tag (token level)" in html and "<td>B-PER</td>" in html and "<td>weighted avg</td>" in html
    stats = json.loads((ner_run.path / "data_stats.json").read_text())
    assert "Label distribution" in html
    assert f'<td class="num">{stats["train"]["examples"]}</td>' in html
    assert html.count("<svg") >= 2  # training curves and per-type F1, inline
    assert "Model card" in html and "AutoModelForTokenClassification.from_pretrained" in html
    assert "lower-cases its input" in html  # the tiny tokenizer is uncased
    assert "Full resolved config" in html and htmllib.escape("name_or_path:") in html
    assert_self_contained(html)


def test_user_data_is_escaped(tmp_path):
    run = fake_finetune(tmp_path / "run<i>&x", types=(EVIL, "PER"), model=EVIL)
    html = write_run_report(run).read_text()
    assert EVIL not in html and "<i>&x" not in html
    assert htmllib.escape(EVIL) in html
    assert "run&lt;i&gt;&amp;x" in html
    assert_self_contained(html)


def test_run_without_eval_or_data_stats(tmp_path, ner_run):
    copy = tmp_path / "old-run"
    shutil.copytree(
        ner_run.path,
        copy,
        ignore=shutil.ignore_patterns("checkpoints", "eval", "data_stats.json", "report.html"),
    )
    html = write_run_report(copy).read_text()
    dev = json.loads(ner_run.metrics_json.read_text())["dev"]
    assert _card("dev f1", f"{dev['f1']:.4f}") in html  # from metrics.json when eval/ is gone
    assert "data_stats.json was not recorded" in html
    assert_self_contained(html)


def test_bare_failed_run_and_torn_log(tmp_path):
    run = tmp_path / "crashed"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"stage": "finetune", "task": "ner", "status": "failed"}))
    (run / "metrics.jsonl").write_text('{"step": 1, "kind": "train", "loss": 2.5}\n{"step": 2, "kin')
    html = write_run_report(run).read_text()
    assert '<div class="value">failed</div>' in html
    assert "config.yaml is missing" in html
    assert "metrics.jsonl:2: not JSON" in html
    assert "did not finish" in html


def test_report_problems_never_fail_a_run(tmp_path, caplog, monkeypatch):
    with caplog.at_level(logging.WARNING, logger="rawtune"):
        assert write_run_report(tmp_path / "missing") is None
    assert "could not write" in caplog.text
    import rawtune.reporting.run_page as run_page

    monkeypatch.setattr(run_page, "render_run", lambda info: 1 / 0)
    assert write_run_report(fake_finetune(tmp_path / "run")) is None


def test_without_matplotlib_the_report_says_so(tmp_path, monkeypatch):
    import rawtune.evaluation.charts as charts

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setattr(charts, "_warned", True)
    html = write_run_report(fake_finetune(tmp_path / "run")).read_text()
    assert "matplotlib is not installed" in html and "<svg" not in html
    assert "0.8123" in html  # the tables are all there


def test_compressed_run_compares_with_its_parent(tmp_path):
    parent = fake_finetune(tmp_path / "ner")
    html = write_run_report(fake_compress(tmp_path / "ner-int8", parent)).read_text()
    assert "Compressed vs parent" in html
    for text in ("0.8011", "0.8123", "-1.12 points", "2.53× smaller", "2.00× speedup", "1,700.0", "accepted"):
        assert text in html, text
    assert _card("latency", "2.10 ms") in html
    assert "int8 (dynamic quantization)" in html  # the model card's limitation
    assert_self_contained(html)


def test_pretrain_run(tmp_path):
    html = write_run_report(fake_pretrain(tmp_path / "dapt")).read_text()
    assert _card("validation loss", "3.2500") in html
    assert "AutoModelForMaskedLM" in html and "rawtune finetune" in html


def test_learning_curve_directory(tmp_path):
    html = write_run_report(fake_curve(tmp_path / "curve")).read_text()
    assert "Learning curve" in html and "log scale" in html
    assert '<td class="num">1,400</td>' in html and "0.6042" in html and "0.8034" in html
    assert "tapt: 0.6042 vs 0.5321 (+7.2 points) with 140 examples" in html
    assert html.count("<svg") == 1
    assert_self_contained(html)


@pytest.mark.parametrize("label", ["C$", "$x$ and $y", "{}%"])
def test_chart_labels_are_literal(tmp_path, label):
    """matplotlib would read `$...$` as mathtext; a label is printed as it is."""
    html = write_run_report(fake_finetune(tmp_path / "run", types=(label,))).read_text()
    assert "Chart not drawn" not in html


def test_classification_with_adapter(tmp_path):
    html = write_run_report(fake_classification(tmp_path / "cls", labels=("neg", EVIL))).read_text()
    assert _card("dev macro_f1", "0.6789") in html and _card("test macro_f1", "0.6543") in html
    assert "Per class" in html and "Confusion matrix" in html
    assert '<table class="confusion">' in html and '<td class="num">9</td>' in html
    assert html.count("<svg") == 2  # per-class bars and the confusion heat map
    assert _card("model size", "0.30 MB") in html  # the adapter, when there is no model/
    assert "PeftModel.from_pretrained" in html and "num_labels=2" in html
    assert "AutoModelForSequenceClassification" in html and "plain transformers" not in html
    assert EVIL not in html
    assert_self_contained(html)


def test_rejected_compression_says_why(tmp_path):
    run = fake_compress(tmp_path / "ner-int8", fake_finetune(tmp_path / "ner"))
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "status": "rejected"}))
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["gate"] |= {"accepted": False, "failed": ["speedup 2.00x < 3.00x"]}
    (run / "metrics.json").write_text(json.dumps(metrics))
    html = write_run_report(run).read_text()
    assert '<div class="card bad"><div class="label">status</div><div class="value">rejected</div>' in html
    assert "Gate rejected: speedup 2.00x &lt; 3.00x." in html


def test_long_logs_are_thinned_for_the_chart():
    from rawtune.evaluation.charts import MAX_POINTS, _points

    steps, values = _points([{"step": i, "loss": 1 / (i + 1)} for i in range(100_001)], "loss")
    assert len(steps) <= MAX_POINTS and steps[0] == 0 and steps[-1] == 100_000
    assert values[-1] == 1 / 100_001


def test_damaged_files_do_not_break_the_report(tmp_path):
    """Fields of the wrong type (an older or hand-edited run) show as missing, nothing raises."""
    run = fake_finetune(tmp_path / "odd")
    (run / "manifest.json").write_text(
        json.dumps({"stage": "finetune", "labels": "O", "data": [], "parameters": 5})
    )
    (run / "metrics.json").write_text(json.dumps({"dev": [1, 2], "size": "x", "gate": 3, "train": None}))
    (run / "data_stats.json").write_text(
        json.dumps({"train": {"entities": {"A": "x"}, "words": 3}, "dev": 7})
    )
    (run / "learning_curve.json").write_text(
        json.dumps({"series": [{"points": [{"examples": [1]}, 3]}, "x"]})
    )
    (run / "eval" / "dev" / "report.json").write_text(
        json.dumps({"metrics": {"confusion": {"labels": ["a"], "matrix": 1}}})
    )
    html = build_run_report(run).read_text()
    assert "Configuration" in html and "Model card" in html
