"""The CLI surface: tokenizer training, config show/validate, reproducing a run from its config."""

from __future__ import annotations

import json

import yaml
from transformers import AutoTokenizer

from rawtune.cli.main import main


def test_tokenizer_train_cli(tmp_path, corpus_file, capsys):
    out = tmp_path / "tok"
    assert (
        main(
            [
                "tokenizer",
                "train",
                "--corpus",
                str(corpus_file),
                "--type",
                "bpe",
                "--vocab-size",
                "300",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.mask_token is not None and len(tok) <= 300
    assert (
        tok.decode(tok("the court approved")["input_ids"], skip_special_tokens=True).strip()
        == "the court approved"
    )
    assert (
        main(["tokenizer", "train", "--corpus", str(corpus_file), "--output", str(out), "--vocabsize=3"]) == 2
    )


def test_config_show_and_validate(tmp_path, capsys):
    assert main(["config", "show", "pretrain", "--train.lr=3e-4"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["train"]["lr"] == 3e-4 and shown["train"]["batch_size"] == 32
    bad = tmp_path / "bad.yaml"
    bad.write_text("stage: pretrain\ntrain:\n  epochz: 3\n")
    assert main(["config", "validate", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: train.epochz: unknown key (did you mean 'train.epochs'?)" in err
    assert "output: required" in err


def test_resolved_config_reproduces_the_run(tmp_path, tiny_args, as_flags, capsys):
    first = tmp_path / "first"
    assert main(["pretrain", f"--output={first}", *as_flags(tiny_args(**{"train.max_steps": 4}))]) == 0
    again = tmp_path / "again"
    assert main(["pretrain", "--config", str(first / "config.yaml"), f"--output={again}"]) == 0
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (first, again))
    assert a["after"] == b["after"] and a["before"] == b["before"]
