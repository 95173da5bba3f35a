"""--learner pet: cloze prompts scored by a masked-LM head, and its refusals."""

from __future__ import annotations

import json

import pytest

from rawtune.errors import ConfigError, ModelError
from rawtune.stages.fewshot import run_fewshot


@pytest.fixture(scope="module")
def tiny_mlm(tmp_path_factory, tiny_backbone):
    import torch
    from transformers import AutoConfig, AutoTokenizer, BertForMaskedLM

    torch.manual_seed(0)
    model = BertForMaskedLM(AutoConfig.from_pretrained(str(tiny_backbone)))
    out = tmp_path_factory.mktemp("mlm")
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(tiny_backbone)).save_pretrained(str(out))
    return out


def _cfg(tmp_path, model, cls_data, verbalizer) -> dict:
    train = {"threads": 1, "progress": False, "log_steps": 1, "warmup_ratio": 0.0, "lr": 3e-3, "epochs": 15}
    return {
        "output": str(tmp_path / "fs"),
        "method": "pet",
        "shots": 8,
        "model": {"name_or_path": str(model)},
        "data": {"train": str(cls_data["train"]), "dev": str(cls_data["dev"]), "max_length": 32},
        "pet": {"template": "{text} . it was {mask} .", "verbalizer": verbalizer, "train": train},
    }


def test_pet_beats_chance_and_saves_the_mlm(tmp_path, tiny_mlm, cls_data):
    summary = run_fewshot(_cfg(tmp_path, tiny_mlm, cls_data, {"neg": "bad", "pos": "good"}))
    assert summary["dev"]["accuracy"]["mean"] >= 0.75, summary["dev"]
    model_dir = tmp_path / "fs" / "seed-0" / "model"
    assert json.loads((model_dir / "fewshot.json").read_text())["verbalizer"] == {"neg": "bad", "pos": "good"}
    assert (model_dir / "model.safetensors").is_file()


def test_pet_refuses_a_model_without_mlm_head(tmp_path, tiny_backbone, cls_data):
    with pytest.raises(ModelError, match="no trained masked-LM head"):
        run_fewshot(_cfg(tmp_path, tiny_backbone, cls_data, {"neg": "bad", "pos": "good"}))


def test_pet_refuses_multi_token_words_and_missing_verbalizer(tmp_path, tiny_mlm, cls_data):
    with pytest.raises(ConfigError, match=r"'zqxjvk' \(label pos\) is \d+ tokens"):
        run_fewshot(_cfg(tmp_path, tiny_mlm, cls_data, {"neg": "bad", "pos": "zqxjvk"}))
    with pytest.raises(ConfigError, match=r"pet\.verbalizer"):
        run_fewshot(_cfg(tmp_path / "b", tiny_mlm, cls_data, None))
