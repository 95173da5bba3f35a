"""`rawtune export --merge`: a LoRA or BitFit run becomes a plain save_pretrained model whose outputs
equal the adapter model's; prompt, prefix and bottleneck adapters cannot merge and say so."""

from __future__ import annotations

import pytest
import torch

from rawtune.cli.main import main
from rawtune.stages.finetune import run_finetune


def _lora_or_prompt(ft_config, cls_data, method):
    return run_finetune(
        ft_config(
            task={"name": "classification"},
            data={
                "train": str(cls_data["train"]),
                "dev": str(cls_data["dev"]),
                "max_length": 64,
                "stride": 16,
            },
            tuning={
                "method": method,
                **({"num_virtual_tokens": 4} if method in ("prompt", "prefix") else {}),
            },
            train={"max_steps": 4, "eval_steps": 2, "save_steps": 2},
        )
    )


@pytest.mark.parametrize("method", ["lora", "bitfit"])
def test_export_merge_equals_adapter(ft_config, cls_data, tmp_path, method):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rawtune.artifacts.adapters import load_adapter

    run = _lora_or_prompt(ft_config, cls_data, method)
    out = tmp_path / "merged"
    assert main(["export", str(run.path), "--output", str(out), "--merge"]) == 0
    plain = AutoModelForSequenceClassification.from_pretrained(out).eval()
    adapter = load_adapter(run.adapter_dir).eval()
    tok = AutoTokenizer.from_pretrained(out)
    batch = tok(["the film was good and great", "the meal was awful"], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(plain(**batch).logits, adapter(**batch).logits, atol=1e-5)
    assert not any("lora" in k for k in plain.state_dict())  # a plain model, no adapter left
    base = AutoModelForSequenceClassification.from_pretrained(ft_config()["model"]["name_or_path"])
    names = [k for k in base.state_dict() if not k.startswith("classifier")]
    assert any(not torch.equal(plain.state_dict()[k], base.state_dict()[k]) for k in names)  # trained
    assert main(["export", str(run.path), "--output", str(out), "--merge"]) == 2  # never overwrites
    copy = tmp_path / "adapter-copy"
    assert main(["export", str(run.path), "--output", str(copy)]) == 0
    assert (copy / "rawtune_adapter.json").is_file()


@pytest.mark.parametrize("method", ["prompt", "prefix", "adapter"])
def test_unmergeable_adapters_refuse_merge(ft_config, cls_data, tmp_path, capsys, method):
    run = _lora_or_prompt(ft_config, cls_data, method)
    assert main(["export", str(run.path), "--output", str(tmp_path / "m"), "--merge"]) == 2
    assert "cannot be merged" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("merge", [True, False])
def test_export_of_a_full_run(ft_config, cls_data, tmp_path, capsys, merge):
    run = _lora_or_prompt(ft_config, cls_data, "full")
    args = ["export", str(run.path), "--output", str(tmp_path / "x")] + (["--merge"] if merge else [])
    assert main(args) == (2 if merge else 0)
    if not merge:
        assert (tmp_path / "x" / "model.safetensors").is_file()
