"""The parts of continual learning: head growth, replay sampling, the EWC / L2-SP penalty."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertForTokenClassification

from rawtune.continual.penalty import Penalty, Regularized, fisher_diagonal
from rawtune.continual.replay import pseudo_labeled, sample, write_memory
from rawtune.data.readers.conll import read_token_file
from rawtune.data.readers.examples import TokenExample
from rawtune.modeling.heads import grow_head, init_new_rows

LABELS = ["O", "B-PER", "I-PER"]


def tiny(cls=BertForTokenClassification, labels=LABELS):
    cfg = BertConfig(
        vocab_size=60,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={lab: i for i, lab in enumerate(labels)},
    )
    torch.manual_seed(0)
    return cls(cfg).eval()


@pytest.mark.parametrize("cls", [BertForTokenClassification, BertForSequenceClassification])
def test_head_growth_keeps_old_rows_bit_identical_and_predictions(cls):
    model = tiny(cls)
    x = torch.randint(0, 60, (3, 9))
    before = model(input_ids=x).logits
    w, b = model.classifier.weight.detach().clone(), model.classifier.bias.detach().clone()
    n_old = grow_head(model, [*LABELS, "B-ORG", "I-ORG"])
    assert n_old == 3 and model.config.num_labels == 5 and model.config.id2label[4] == "I-ORG"
    assert torch.equal(model.classifier.weight[:3], w) and torch.equal(model.classifier.bias[:3], b)
    grown = model(input_ids=x).logits
    assert grown.shape[-1] == 5
    assert torch.allclose(grown[..., :3], before, atol=1e-6)
    assert torch.equal(grown.argmax(-1), before.argmax(-1))  # the new rows are silent until trained
    init_new_rows(model, n_old)
    assert torch.equal(model.classifier.weight[:3], w) and torch.equal(model.classifier.bias[:3], b)
    assert model.classifier.weight[3:].abs().sum() > 0 and model.classifier.bias[3:].abs().max() < 1.0


def test_head_growth_refuses_a_reordered_label_list():
    from rawtune.errors import ModelError

    with pytest.raises(ModelError, match="must start with the model's labels"):
        grow_head(tiny(), ["O", "I-PER", "B-PER", "B-ORG"])


def test_replay_sample_is_deterministic_nested_and_in_file_order():
    pool = list(range(100))
    a = sample(pool, 10, seed=4)
    assert a == sample(pool, 10, seed=4) and a == sorted(a) and len(set(a)) == 10
    assert a != sample(pool, 10, seed=5)
    assert set(a) <= set(sample(pool, 30, seed=4))  # a smaller sample is inside a larger one
    assert sample(pool, 500, seed=4) == pool


def test_pseudo_labels_that_break_iob2_are_repaired_and_the_memory_reads_back(tmp_path):
    # A model may predict I-PER after O; seqeval reads that as the start of an entity, and so must
    # the replay memory, which every later version reads back under the strict IOB2 check.
    unlabeled = TokenExample(tokens=["a", "b", "c", "d"], tags=None, file="raw.txt", line=1)
    ex = pseudo_labeled("ner", unlabeled, {"tags": ["O", "I-PER", "I-PER", "I-LOC"]})
    assert ex.tags == ["O", "B-PER", "I-PER", "B-LOC"]
    path = write_memory(tmp_path, "ner", [ex], [], size=10, seed=0, data_cfg=None)
    back = read_token_file(str(path), scheme="iob2")
    assert [e.tags for e in back.examples] == [ex.tags] and back.repairs == 0


def _module(model):
    class Loss(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.model = m

        def forward(self, input_ids, labels):
            logits = self.model(input_ids=input_ids).logits
            return {"loss": torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten())}

    return Loss(model)


@pytest.mark.parametrize("method", ["ewc", "l2sp"])
def test_penalty_is_zero_at_the_anchor_and_grows_away_from_it(method):
    model = tiny()
    torch.manual_seed(1)
    batches = [
        {"input_ids": torch.randint(0, 60, (4, 7)), "labels": torch.randint(0, 3, (4, 7))} for _ in range(3)
    ]
    weights = fisher_diagonal(_module(model), batches) if method == "ewc" else None
    if weights is not None:
        assert all((w >= 0).all() for w in weights.values())
        mean = torch.cat([w.flatten() for w in weights.values()]).mean()
        assert mean == pytest.approx(1.0, rel=1e-5)
    penalty = Penalty(model, weights, strength=2.0)
    assert penalty(model).item() == 0.0
    values = []
    for scale in (0.01, 0.02, 0.04):
        moved = tiny()
        with torch.no_grad():
            for p in moved.parameters():
                p.add_(scale)
        values.append(penalty(moved).item())
    assert 0 < values[0] < values[1] < values[2]
    assert values[1] == pytest.approx(4 * values[0], rel=1e-3)  # quadratic
    # a grown head is anchored on its old rows only
    grown = tiny()
    grow_head(grown, [*LABELS, "B-ORG", "I-ORG"])
    with torch.no_grad():
        grown.classifier.weight[3:] = 5.0
    assert penalty(grown).item() == pytest.approx(0.0, abs=1e-6)


def test_regularized_adds_the_penalty_to_the_task_loss():
    model = tiny()
    penalty = Penalty(model, None, strength=3.0)
    with torch.no_grad():
        model.classifier.bias.add_(1.0)
    batch = {"input_ids": torch.randint(0, 60, (2, 5)), "labels": torch.randint(0, 3, (2, 5))}
    plain = _module(model)(**batch)["loss"]
    wrapped = Regularized(_module(model), penalty)
    assert wrapped.model is model
    assert wrapped(**batch)["loss"].item() == pytest.approx(plain.item() + 0.5 * 3.0 * 3, rel=1e-5)


def test_old_sets_do_not_score_entities_of_added_types(monkeypatch):
    """On data annotated before ORG existed, a predicted ORG is neither right nor wrong."""
    from types import SimpleNamespace

    import numpy as np

    from rawtune.data.labels import LabelSpace
    from rawtune.tasks.ner import NerTask

    space = LabelSpace(("O", "B-PER", "I-PER", "B-ORG", "I-ORG"))
    gold = [["B-PER", "I-PER", "O", "O"], ["O", "O", "B-PER"]]
    pred = [[1, 2, 3, 4], [3, 0, 1]]  # both persons found, plus two ORGs the old data cannot judge
    decoder = SimpleNamespace(tags=[np.array(p) for p in pred], loss=lambda: 0.0)
    task = NerTask(SimpleNamespace())
    names = [[space.labels[i] for i in p] for p in pred]
    monkeypatch.setattr(task, "_decode", lambda *a: (names, None, SimpleNamespace(uncovered=0), decoder))
    data = SimpleNamespace(examples=[SimpleNamespace(tags=g) for g in gold])
    plain = task.evaluate(None, None, data, space, None)
    old_only = task.evaluate(None, None, data, space, None, only_types={"PER"})
    assert plain["precision"] == 0.5 and plain["recall"] == 1.0
    assert old_only["precision"] == 1.0 and old_only["recall"] == 1.0 and old_only["f1"] == 1.0


def test_masked_outside_words_of_replayed_examples_carry_no_loss(tiny_tokenizer):
    from types import SimpleNamespace

    from rawtune.continual.replay import mask_outside
    from rawtune.data.labels import LabelSpace
    from rawtune.data.readers.examples import TokenExample
    from rawtune.tasks.features import IGNORE
    from rawtune.tasks.ner import UNSCORED, NerTask

    ex = TokenExample(["the", "patient", "in", "paris"], ["O", "B-PER", "O", "B-LOC"], "f", 1)
    (masked,) = mask_outside([ex])
    assert masked.tags == [UNSCORED, "B-PER", UNSCORED, "B-LOC"] and ex.tags[0] == "O"
    data = SimpleNamespace(
        max_length=32,
        stride=8,
        doc_context=False,
        token_column=0,
        tag_column=-1,
        scheme="iob2",
        repair_tags=False,
    )
    task = NerTask(SimpleNamespace(data=data, task=SimpleNamespace(subword_labels="first", crf=False)))
    space = LabelSpace(("O", "B-LOC", "I-LOC", "B-PER", "I-PER"))
    plain, unscored = (
        task.train_features(tiny_tokenizer, SimpleNamespace(examples=[e]), space)[0] for e in (ex, masked)
    )
    scored = [lab for lab in plain["labels"] if lab != IGNORE]
    kept = [lab for lab in unscored["labels"] if lab != IGNORE]
    assert scored == [0, 3, 0, 1] and kept == [3, 1]  # only the entity words train
