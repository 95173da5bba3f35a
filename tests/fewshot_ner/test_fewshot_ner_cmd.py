"""`rawtune fewshot --task ner`: k sentences per entity type per seed, a run per seed, mean ± std."""

from __future__ import annotations

import json

import pytest

from rawtune.cli.main import main
from rawtune.data.kshot import entity_types
from rawtune.data.readers.labeled import read_token_file


def args(tmp_path, backbone, data, *extra):
    return [
        "fewshot", "--task", "ner", "--model", str(backbone), "--train", str(data["train"]),
        "--dev", str(data["dev"]), "--output", str(tmp_path / "fs"), "--shots", "2", "--seeds", "0,1", *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("method", ["nnshot", "finetune"])
def test_fewshot_ner_runs_each_seed_on_its_sample(tmp_path, tiny_backbone, ner_data, method):
    extra = [
        "--learner",
        method,
        "--finetune.max_steps=2",
        "--finetune.threads=1",
        "--finetune.progress=false",
    ]
    assert main(args(tmp_path, tiny_backbone, ner_data, *extra)) == 0
    root = tmp_path / "fs"
    m = json.loads((root / "metrics.json").read_text())
    assert m["task"] == "ner" and m["method"] == method and m["seeds"] == [0, 1]
    per_run = [json.loads((root / f"seed-{s}" / "metrics.json").read_text())["dev"]["f1"] for s in (0, 1)]
    assert m["dev"]["f1"]["values"] == per_run
    assert m["dev"]["f1"]["mean"] == pytest.approx(sum(per_run) / 2)
    for seed in (0, 1):  # the sample: a CoNLL file with every type in at least 2 of its sentences
        sample = read_token_file(str(root / "kshot" / f"seed-{seed}.conll")).examples
        for t in ("PER", "ORG", "LOC", "MISC"):
            assert sum(t in entity_types(e.tags) for e in sample) >= 2
        assert (root / f"seed-{seed}" / "eval" / "dev" / "report.json").is_file()
    assert (
        read_token_file(str(root / "kshot" / "seed-0.conll")).examples
        != read_token_file(str(root / "kshot" / "seed-1.conll")).examples
    )


def test_a_classification_method_for_ner_is_refused(tmp_path, tiny_backbone, ner_data, capsys):
    assert main(args(tmp_path, tiny_backbone, ner_data, "--learner", "setfit")) == 2
    assert "method setfit is not for task ner" in capsys.readouterr().err
    assert not (tmp_path / "fs").exists()
