"""Gradual unfreezing: the head trains first, then one more layer every N steps from the top, the
embeddings last; what the freeze_* options froze never thaws; --resume lands on the same schedule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rawtune.stages.finetune import run_finetune
from rawtune.tuning.base import tuning_options


def _model(tiny_backbone):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(tiny_backbone, num_labels=2)


def _training(model) -> set[str]:
    parts = set()
    for n, p in model.named_parameters():
        if p.requires_grad:
            parts.add(
                "layer1"
                if ".layer.1." in n
                else "layer0"
                if ".layer.0." in n
                else "embeddings"
                if ".embeddings." in n
                else "top"
            )
    return parts


def test_schedule_goes_top_down(tiny_backbone):
    from rawtune.tuning import apply

    tuned = apply(_model(tiny_backbone), tuning_options(gradual_unfreeze=2), base_ref="x")
    (schedule,) = tuned.callbacks
    seen = []
    for step in range(1, 10):
        schedule.set_step(step)
        seen.append(_training(tuned.model))
    top, l1, l0 = {"top"}, {"top", "layer1"}, {"top", "layer1", "layer0"}
    assert seen == [top, top, l1, l1, l0, l0, l0 | {"embeddings"}, l0 | {"embeddings"}, l0 | {"embeddings"}]
    schedule.on_end({})
    assert all(p.requires_grad for p in tuned.model.parameters())


def test_frozen_layers_never_thaw(tiny_backbone):
    from rawtune.tuning import apply

    cfg = tuning_options("freeze", gradual_unfreeze=1, freeze_layers=1, freeze_embeddings=True)
    tuned = apply(_model(tiny_backbone), cfg, base_ref="x")
    (schedule,) = tuned.callbacks
    schedule.set_step(100)
    assert _training(tuned.model) == {"top", "layer1"}


def test_head_only_with_gradual_unfreeze_is_refused():
    from rawtune.config.loader import load_config
    from rawtune.errors import ConfigError

    with pytest.raises(ConfigError, match="nothing to unfreeze"):
        load_config(
            "finetune", overrides={"tuning.head_only": True, "tuning.gradual_unfreeze": 2}, require=False
        )


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def test_layers_stay_put_until_their_turn_and_resume_matches(ft_config, cls_data, tiny_backbone, tmp_path):
    import shutil

    cfg = ft_config(
        task={"name": "classification"},
        data={"train": str(cls_data["train"]), "dev": str(cls_data["dev"])},
        tuning={"gradual_unfreeze": 2},
        train={
            "max_steps": 8,
            "eval_steps": 2,
            "save_steps": 2,
            "keep_last": 10,
            "keep_checkpoints": 10,
            "restore_best": False,
        },
    )
    run = run_finetune(cfg)
    base = _weights(tiny_backbone / "model.safetensors")
    at2 = _weights(run.checkpoints_dir / "step-2" / "model.safetensors")
    at4 = _weights(run.checkpoints_dir / "step-4" / "model.safetensors")
    at6 = _weights(run.checkpoints_dir / "step-6" / "model.safetensors")

    def same(state, part: str) -> bool:
        keys = [k for k in base if part in k]
        assert keys
        return all(torch.equal(state[f"bert.{k}" if not k.startswith("bert.") else k], base[k]) for k in keys)

    assert same(at2, "layer.1.") and same(at2, "layer.0.") and same(at2, "embeddings.")
    assert not same(at4, "layer.1.") and same(at4, "layer.0.") and same(at4, "embeddings.")
    assert not same(at6, "layer.0.") and same(at6, "embeddings.")
    final = json.loads(run.metrics_json.read_text())
    # killed after step 4, resumed: the same schedule, the same numbers
    ref = tmp_path / "ref"
    shutil.copytree(run.path, ref)
    for name in ("model", "eval", "metrics.json"):
        p = run.path / name
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    shutil.rmtree(run.checkpoints_dir / "step-6")
    manifest = json.loads((run.path / "manifest.json").read_text())
    (run.path / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    resumed = run_finetune(cfg, resume=True)
    again = json.loads(resumed.metrics_json.read_text())
    assert again["train"]["resumed_from"] == 4
    assert again["dev"] == final["dev"]
