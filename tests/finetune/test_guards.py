"""The classic label-map footguns are refused with both label sets shown, unless --reinit-head."""

from __future__ import annotations

import pytest
from transformers import AutoModelForSequenceClassification

from rawtune.errors import ModelError
from rawtune.stages.finetune import run_finetune


def _headed(tiny_backbone, tmp_path, labels):
    out = tmp_path / f"headed-{len(labels)}-{labels[0]}"
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_backbone,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={v: i for i, v in enumerate(labels)},
    )
    model.save_pretrained(out)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(tiny_backbone).save_pretrained(out)
    return out


@pytest.mark.parametrize(
    "labels, message",
    [
        (["pos", "neg"], "different order"),
        (["neg", "pos", "neutral"], "only in the model"),
        (["neg", "other"], "missing from the model"),
    ],
)
def test_label_guards(ft_config, cls_data, tiny_backbone, tmp_path, labels, message):
    headed = _headed(tiny_backbone, tmp_path, labels)
    cfg = ft_config(
        task={"name": "classification"},
        model={"name_or_path": str(headed)},
        data={"train": str(cls_data["train"]), "dev": str(cls_data["dev"])},
        train={"max_steps": 2},
    )
    with pytest.raises(ModelError, match=message) as err:
        run_finetune(cfg)
    assert "neg" in str(err.value) and "--reinit-head" in str(err.value)
    assert not (tmp_path / "run").exists()  # refused before a run directory was made
    run = run_finetune({**cfg, "reinit_head": True})
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(run.model_dir).id2label == {0: "neg", 1: "pos"}


def test_same_labels_continue_training(ft_config, cls_data, tiny_backbone, tmp_path):
    headed = _headed(tiny_backbone, tmp_path, ["neg", "pos"])
    cfg = ft_config(
        task={"name": "classification"},
        model={"name_or_path": str(headed)},
        data={"train": str(cls_data["train"])},
        train={"max_steps": 2},
    )
    run_finetune(cfg)  # same labels, same order: the trained head is kept


def test_unseen_dev_label_is_a_data_error(ft_config, cls_data, tmp_path):
    from rawtune.errors import DataError

    dev = tmp_path / "dev.csv"
    dev.write_text("text,label\nthe film was good,pos\nthe film was so so,mixed\n")
    cfg = ft_config(task={"name": "classification"}, data={"train": str(cls_data["train"]), "dev": str(dev)})
    with pytest.raises(DataError, match="mixed") as err:
        run_finetune(cfg)
    assert "dev.csv:3" in str(err.value)
    assert not (tmp_path / "run").exists()
