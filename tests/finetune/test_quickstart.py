"""The README's main command: MLM adaptation -> NER fine-tuning -> evaluation -> predictions on the
bundled sample with the packaged MiniLM, offline."""

from __future__ import annotations

import json

import pytest

from rawtune.cli.main import main


@pytest.mark.slow
def test_quickstart_end_to_end(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "--output", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "Predictions on new sentences" in printed and str(out / "ner") in printed
    m = json.loads((out / "ner" / "metrics.json").read_text())
    assert m["test"]["f1"] > 0.5  # names in dev/test never occur in training
    manifest = json.loads((out / "ner" / "manifest.json").read_text())
    assert manifest["parent"] == str((out / "tapt").resolve())  # lineage: finetune <- pretrain
    assert (out / "ner" / "eval" / "test" / "report.md").is_file()
    assert (out / "report.html").is_file() and (out / "ner" / "report.html").is_file()
    # a second run reuses every stage (the quickstart is a pipeline preset) and overwrites nothing
    before = (out / "ner" / "manifest.json").read_bytes()
    assert main(["quickstart", "--output", str(out), "--no-progress"]) == 0
    assert "Reused (complete, same fingerprint): data, tapt, ner" in capsys.readouterr().out
    assert (out / "ner" / "manifest.json").read_bytes() == before
    other = tmp_path / "not-a-quickstart"
    (other / "x").mkdir(parents=True)
    assert main(["quickstart", "--output", str(other)]) == 2  # never replaces a directory it did not make
