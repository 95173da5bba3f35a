"""Per-example loss weights (`data.extra_train` at `data.extra_weight`, what self-training's student
trains its pseudo-labels with): the collator stacks a `weight` feature, the NER (cross-entropy and
CRF) and classification losses apply it, and an unweighted set's features, losses, config and data
fingerprints are what they were before weights existed."""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from rawtune.data.readers.examples import TextExample, TokenExample
from rawtune.tasks.features import PadCollator, example_weights
from rawtune.tasks.sequence_classification import SequenceClassifierLoss
from rawtune.tasks.tag_decoding import CRF
from rawtune.tasks.token_classification import TokenClassifierLoss, crf_loss


class Logits(nn.Module):
    """A 'model' returning fixed logits (the losses only read `.logits`)."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = nn.Parameter(logits.clone())

    def forward(self, input_ids, attention_mask, **kw):
        return SimpleNamespace(logits=self.logits)


def test_the_collator_stacks_weights_and_only_weighted_sets_get_them() -> None:
    plain = [TextExample("a", "x", "f", 1), TextExample("b", "y", "f", 2)]
    feats = [{"input_ids": [1, 2], "example": 0, "labels": 0}, {"input_ids": [3], "example": 1, "labels": 1}]
    example_weights(feats, plain, "example")
    assert all("weight" not in f for f in feats)
    assert "weight" not in PadCollator(0, "single")(feats)
    weighted = [plain[0], TextExample("b", "y", "f", 2, weight=0.5)]
    example_weights(feats, weighted, "example")
    batch = PadCollator(0, "single")(feats)
    assert batch["weight"].tolist() == [1.0, 0.5] and batch["weight"].dtype == torch.float32
    windows = [{"input_ids": [1], "sentences": [1, 1]}, {"input_ids": [1], "sentences": []}]
    example_weights(windows, weighted, "sentences")
    assert [w["weight"] for w in windows] == [0.5, 1.0]  # a window of context only: no labels anyway


def test_weights_stay_out_of_the_data_fingerprint() -> None:
    ex = TokenExample(["a"], ["O"], "f", 1)
    assert "weight" not in repr(ex) and repr(ex) == repr(TokenExample(["a"], ["O"], "f", 1, weight=0.3))


def _token_batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 3)
    labels = torch.tensor([[-100, 1, 0, -100], [-100, 2, 2, 0]])
    return logits, labels


def test_token_loss_scales_each_window_and_still_divides_by_the_tokens() -> None:
    logits, labels = _token_batch()
    module = TokenClassifierLoss(Logits(logits))
    ids, mask = torch.zeros(2, 4, dtype=torch.long), torch.ones(2, 4)
    plain = module(ids, mask, labels)["loss"]
    ones = module(ids, mask, labels, weight=torch.ones(2))["loss"]
    assert torch.equal(plain, ones)
    first_only = module(ids, mask, labels, weight=torch.tensor([1.0, 0.0]))
    alone = TokenClassifierLoss(Logits(logits[:1]))(ids[:1], mask[:1], labels[:1])["loss"]
    assert torch.allclose(first_only["loss"], alone * 2 / 5)  # row 0's 2 tokens over the batch's 5
    first_only["loss"].backward()
    grad = module.model.logits.grad
    assert grad[1].abs().sum() == 0 and grad[0].abs().sum() > 0
    half = module(ids, mask, labels, weight=torch.full((2,), 0.5))["loss"]
    assert torch.allclose(half, plain / 2)


def test_crf_loss_weights_each_sentence_of_its_window() -> None:
    logits, labels = _token_batch()
    crf = CRF(["O", "B-X", "I-X"])
    segments = torch.where(labels >= 0, torch.zeros_like(labels), torch.full_like(labels, -1))
    plain = crf_loss(crf, logits, labels, segments)
    assert torch.allclose(plain["loss"], crf_loss(crf, logits, labels, segments, torch.ones(2))["loss"])
    first = crf_loss(crf, logits, labels, segments, torch.tensor([1.0, 0.0]))
    alone = crf_loss(crf, logits[:1], labels[:1], segments[:1])
    assert torch.allclose(first["loss"], alone["loss"] * alone["count"] / plain["count"])


@pytest.mark.parametrize("kind", ["single", "multi", "regression"])
def test_classification_loss_scales_each_example(kind: str) -> None:
    torch.manual_seed(1)
    logits = torch.randn(3, 1 if kind == "regression" else 3)
    labels = {
        "single": torch.tensor([0, 2, 1]),
        "multi": torch.tensor([[1.0, 0, 1], [0, 0, 1], [1, 1, 0]]),
        "regression": torch.tensor([0.5, -1.0, 2.0]),
    }[kind]
    ids, mask = torch.zeros(3, 2, dtype=torch.long), torch.ones(3, 2)
    module = SequenceClassifierLoss(Logits(logits), kind)
    plain = module(ids, mask, labels)["loss"]
    assert torch.allclose(plain, module(ids, mask, labels, weight=torch.ones(3))["loss"])
    w = torch.tensor([1.0, 0.0, 0.5])
    each = [
        SequenceClassifierLoss(Logits(logits[i : i + 1]), kind)(ids, mask, labels[i : i + 1])["loss"]
        for i in range(3)
    ]
    expected = sum(float(w[i]) * each[i] for i in range(3)) / 3
    assert torch.allclose(module(ids, mask, labels, weight=w)["loss"], expected)


def test_an_old_config_without_the_keys_still_resumes(tmp_path, ft_config, ner_data) -> None:
    """A run written before data.extra_train existed has the same config fingerprint and passes the
    --resume config check."""
    import yaml

    from rawtune.config.identity import _flatten, check_same_config, config_fingerprint
    from rawtune.config.loader import dump_config, load_config

    cfg = load_config(
        "finetune", base=ft_config(task={"name": "ner"}, data={"train": str(ner_data["train"])})
    )
    old = yaml.safe_load(dump_config(cfg))
    del old["data"]["extra_train"], old["data"]["extra_weight"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(old))
    check_same_config(path, cfg)
    from rawtune.config.options import flat_view

    flat = _flatten(flat_view(old))  # fingerprints read the task and tuning keys in their flat shape
    flat = {k: v for k, v in flat.items() if not k.startswith("data.augment.")}
    flat = {
        k: v
        for k, v in flat.items()
        if k not in ("rawtune_version", "output") and not k.endswith((".progress", ".threads"))
    }
    assert (
        config_fingerprint(cfg) == hashlib.sha256(json.dumps(flat, sort_keys=True).encode()).hexdigest()[:16]
    )


def test_extra_training_files_join_the_training_set_at_their_weight(tmp_path, ft_config, ner_data) -> None:
    from rawtune.config.loader import load_config
    from rawtune.data.splits import read_splits
    from rawtune.stages.finetune import run_finetune
    from rawtune.tasks.base import get_task

    cfg = ft_config(
        task={"name": "ner"},
        data={"train": str(ner_data["train"]), "extra_train": [str(ner_data["dev"])], "extra_weight": 0.25},
        train={"max_steps": 1, "eval_steps": 1, "save_steps": 1},
    )
    splits, _ = read_splits(get_task(load_config("finetune", base=cfg)), load_config("finetune", base=cfg))
    train = splits["train"].examples
    assert (
        len(train) == 64 + 24
        and {ex.weight for ex in train[:64]} == {1.0}
        and {ex.weight for ex in train[64:]} == {0.25}
    )
    gold_docs = {ex.doc for ex in train[:64]}
    assert not gold_docs & {ex.doc for ex in train[64:]}  # another file's documents never merge with these
    run = run_finetune(cfg)
    assert run.manifest()["data"]["train"]["examples"] == 88


def test_extra_training_labels_must_be_the_training_sets(tmp_path, ft_config, ner_data) -> None:
    from rawtune.errors import DataError
    from rawtune.stages.finetune import run_finetune

    other = tmp_path / "other.conll"
    other.write_text("Acme B-COMPANY\nrose O\n")
    cfg = ft_config(task={"name": "ner"}, data={"train": str(ner_data["train"]), "extra_train": [str(other)]})
    with pytest.raises(DataError, match=r"other\.conll.*COMPANY"):
        run_finetune(cfg)
    assert not (tmp_path / "run").exists()


def test_tasks_without_weighted_examples_refuse_extra_training_files() -> None:
    from rawtune.data.weighted import with_extra_train
    from rawtune.errors import ConfigError

    task = SimpleNamespace(name="qa")
    with pytest.raises(ConfigError, match=r"data\.extra_train: not available for task qa"):
        with_extra_train(task, None, SimpleNamespace(extra_train=["x"], extra_weight=1.0), None)
