"""Fixtures of the augmentation tests: a tiny masked LM (the tiny backbone's config and tokenizer with
a BertForMaskedLM head, randomly initialised but saved, so it loads as a model with its MLM head)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_mlm(tmp_path_factory, tiny_backbone) -> Path:
    import torch
    from transformers import AutoConfig, AutoTokenizer, BertForMaskedLM

    torch.manual_seed(0)
    model = BertForMaskedLM(AutoConfig.from_pretrained(str(tiny_backbone)))
    out = tmp_path_factory.mktemp("mlm") / "model"
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(str(tiny_backbone)).save_pretrained(out)
    return out
