"""The fine-tuning commands end to end through the CLI: finetune (several seeds), predict on raw
text with character offsets, evaluate, and bad input that fails before any model is built."""

from __future__ import annotations

import json

import pytest

from rawtune.cli.main import main


def _flags(cfg: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in cfg.items():
        if isinstance(v, dict):
            out += _flags(v, f"{prefix}{k}.")
        else:
            out.append(f"--{prefix}{k}={str(v).lower() if isinstance(v, bool) else v}")
    return out


def test_seeds_predict_evaluate(ft_config, ner_data, tmp_path, capsys):
    cfg = ft_config(data={"train": str(ner_data["train"]), "dev": str(ner_data["dev"])}, train={"epochs": 1})
    out_root = cfg.pop("output")
    cfg.pop("seed")
    argv = ["finetune", "--task", "ner", "--output", out_root, "--seeds", "1,2", *_flags(cfg)]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "run" / "seeds.json").read_text())
    assert summary["seeds"] == [1, 2]
    assert set(summary["dev"]["f1"]) == {"mean", "std"}
    assert "dev f1:" in capsys.readouterr().out

    run = tmp_path / "run" / "seed-1"
    text = tmp_path / "in.txt"
    text.write_text("Maria Lopez met officials in Paris.\n\nShares of Apex Motors fell, John Carter said.\n")
    out = tmp_path / "pred.jsonl"
    assert main(["predict", str(run), "--input", str(text), "--output", str(out), "--no-progress"]) == 0
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == 2  # the blank line is skipped
    assert recs[1]["source"].endswith("in.txt:3")
    for rec in recs:
        assert len(rec["tags"]) == len(rec["tokens"])
        for ent in rec["entities"]:
            assert rec["text"][ent["start"] : ent["end"]] == ent["text"]

    conll_out = tmp_path / "pred2.jsonl"
    assert (
        main(
            [
                "predict",
                str(run),
                "--input",
                str(ner_data["test"]),
                "--output",
                str(conll_out),
                "--no-progress",
            ]
        )
        == 0
    )
    assert len(conll_out.read_text().splitlines()) == 24

    assert main(["evaluate", str(run), "--data", str(ner_data["test"])]) == 0
    assert (run / "eval" / "test" / "report.md").is_file()
    assert main(["predict", str(tmp_path / "run"), "--input", str(text), "--output", str(out)]) == 2
    assert "seed-1" in capsys.readouterr().err  # the multi-seed root names its runs


@pytest.mark.parametrize(
    "content, needle",
    [
        ("Paris B-LOC\nis O\nbig X-LOC\n", "train.conll:3: tag"),
        ("Paris B-LOC\nis O extra\n", "train.conll:2"),
        ("", "train.conll"),
        ("Paris B-LOC\nis O\nbig I-LOC\n", "repair-tags"),
    ],
)
def test_bad_ner_data_fails_before_a_model(ft_config, tmp_path, capsys, content, needle):
    bad = tmp_path / "train.conll"
    bad.write_text(content)
    cfg = ft_config(data={"train": str(bad)})
    cfg["model"]["name_or_path"] = str(tmp_path / "no-such-model")  # never reached
    assert main(["finetune", "--task", "ner", *_flags(cfg)]) == 2
    err = capsys.readouterr().err
    assert needle in err, err
    assert not (tmp_path / "run").exists()


def test_missing_csv_column_is_named(ft_config, cls_data, tmp_path, capsys):
    cfg = ft_config(data={"train": str(cls_data["train"]), "label_column": "labels"})
    assert main(["finetune", "--task", "classification", *_flags(cfg)]) == 2
    err = capsys.readouterr().err
    assert "train.csv" in err and "'labels'" in err and "label" in err


def test_finetune_config_errors_are_reported_together(capsys):
    assert main(["finetune", "--task", "nerr", "--model.init", "scratch", "--train.lrr", "1"]) == 2
    err = capsys.readouterr().err
    assert "task.name" in err and "'ner'" in err  # the allowed values are named
    assert "init must be 'pretrained'" in err
    assert "did you mean 'train.lr'" in err
    assert "output: required" in err and "data.train: required" in err
