"""`rawtune report A B`: one page comparing runs; the CLI for every form."""

from __future__ import annotations

import json

from report_fakes import assert_self_contained, fake_compress, fake_finetune

from rawtune.cli.main import main
from rawtune.reporting import build_report, write_comparison


def test_comparison_has_both_runs(tmp_path, ner_run):
    lora = fake_finetune(tmp_path / "ner-lora", f1=0.8123)
    out = write_comparison([ner_run.path, lora], tmp_path / "cmp.html")
    html = out.read_text()
    dev = json.loads(ner_run.metrics_json.read_text())["dev"]
    assert f'<td class="num">{dev["f1"]:.4f}</td>' in html and '<td class="num">0.8123</td>' in html
    assert "<td>lora</td>" in html and "<td>full</td>" in html  # tuning methods
    assert '<td class="num">1,200</td>' in html  # trainable parameters of the LoRA run
    assert "run F1" in html and "ner-lora F1" in html  # per-type F1 side by side
    assert html.count("<svg") >= 2  # metric bars and overlaid curves
    assert 'href="run/report.html"' not in html  # links are relative to the output file
    assert_self_contained(html)


def test_same_names_are_told_apart(tmp_path):
    a = fake_finetune(tmp_path / "a" / "run", f1=0.61)
    b = fake_finetune(tmp_path / "b" / "run", f1=0.72)
    html = write_comparison([a, b], tmp_path / "out" / "cmp.html").read_text()
    assert "<td>a/run</td>" in html and "<td>b/run</td>" in html
    assert "0.6100" in html and "0.7200" in html


def test_cli(tmp_path, capsys, monkeypatch):
    parent = fake_finetune(tmp_path / "ner")
    child = fake_compress(tmp_path / "ner-int8", parent)
    assert main(["report", str(parent)]) == 0
    assert capsys.readouterr().out.strip() == str(parent / "report.html")
    assert (parent / "report.html").is_file()

    monkeypatch.chdir(tmp_path)
    assert main(["report", str(parent), str(child)]) == 0
    assert capsys.readouterr().out.strip() == "rawtune-report.html"
    html = (tmp_path / "rawtune-report.html").read_text()
    assert "0.8123" in html and "0.8011" in html and "0.99 MB" in html and "2.10 ms" in html
    assert 'href="ner/report.html"' in html

    assert main(["report", str(parent), str(child), "--output", str(tmp_path / "x" / "c.html")]) == 0
    assert (tmp_path / "x" / "c.html").is_file()


def test_cli_refuses_what_is_not_a_run(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "not a rawtune run" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nope")]) == 2


def test_build_report_single_run_with_output(tmp_path):
    run = fake_finetune(tmp_path / "ner")
    out = build_report([run], tmp_path / "copy.html")
    assert out == tmp_path / "copy.html" and (run / "report.html").is_file()
    assert out.read_text() == (run / "report.html").read_text()
