"""Fine-tuning from a pruned model (`rawtune compress --prune` output, or a run fine-tuned from one):
the model is built with its per-layer head and FFN counts, never re-initialised at full size, the task
head follows the new labels exactly as for an ordinary model, and the run's model/ reloads as trained."""

from __future__ import annotations

import os
import sys

import pytest
import torch

from rawtune.compress import structured as S
from rawtune.errors import ModelError
from rawtune.modeling.pruned import save_pruned

SEQ_CLS = "AutoModelForSequenceClassification"
OLD_LABELS = ("bad", "good", "meh")  # the pruned model's trained head: not the data's neg/pos
TEXTS = ["the film was good and great", "the meal was awful and dull"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pruned(tiny_backbone, tmp_path_factory):
    """tiny_backbone with a 3-label classification head, one of its 4 heads and a quarter of its FFN
    neurons removed unevenly (so only the recorded structure can rebuild it): (dir, inputs, logits)."""
    from transformers import AutoModelForSequenceClassification

    from rawtune.modeling.backbone import load_tokenizer

    tok = load_tokenizer(str(tiny_backbone))
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_backbone,
        num_labels=3,
        id2label=dict(enumerate(OLD_LABELS)),
        label2id={v: i for i, v in enumerate(OLD_LABELS)},
    ).eval()
    S.prune_heads(model, 0.25, torch.tensor([[0.5, 0.1], [0.9, 0.8]]))
    S.prune_ffn(model, 0.25, torch.stack([torch.arange(64) / 100, 1 + torch.arange(64) / 100]))
    assert shape(model) == {"heads": [1, 2], "intermediate": [32, 64]}
    out = tmp_path_factory.mktemp("pruned") / "model"
    save_pruned(model, out, tok, SEQ_CLS)
    inputs = dict(tok(TEXTS, padding=True, return_tensors="pt"))
    return out, inputs, logits(model, inputs)


def logits(model, inputs) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(**inputs).logits


def shape(model) -> dict:
    s = S.structure(model)
    return {"heads": s["heads"], "intermediate": s["intermediate"]}


def encoder_state(model) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if k.startswith("bert.encoder.")}


def test_build_task_model_loads_the_pruned_structure_and_follows_the_labels(pruned):
    from rawtune.config.model import ModelConfig
    from rawtune.data.labels import LabelSpace
    from rawtune.modeling.backbone import resolve
    from rawtune.modeling.heads import build_task_model

    path, inputs, expected = pruned

    def build(labels, reinit=False, **model_cfg):
        space = LabelSpace(labels)
        head = {"num_labels": len(labels), "id2label": space.id2label(), "label2id": space.label2id()}
        cfg = ModelConfig(name_or_path=str(path), **model_cfg)
        return build_task_model(cfg, resolve(str(path)), SEQ_CLS, head, space, reinit_head=reinit)

    same = build(OLD_LABELS, trust_remote_code=True)  # even allowed, the in-package class loads it
    assert type(same).__module__ == "rawtune.modeling.pruned_modeling"
    assert torch.equal(logits(same, inputs), expected)  # every weight loaded, the head included

    with pytest.raises(ModelError, match="labels do not match"):  # the head guard as for any model
        build(("neg", "pos"))
    torch.manual_seed(1)
    new = build(("neg", "pos"), reinit=True)
    assert shape(new) == shape(same) and new.config.id2label == {0: "neg", 1: "pos"}
    assert new.classifier.weight.shape == (2, 32)
    old = encoder_state(same)  # the encoder as pruned and saved: nothing re-initialised at full size
    assert all(torch.equal(v, old[k]) for k, v in encoder_state(new).items())


def test_finetune_from_a_pruned_model_and_from_its_run(pruned, ft_config, cls_data, monkeypatch):
    import transformers

    from rawtune.artifacts.pretrained import load_task_model
    from rawtune.stages.finetune import run_finetune
    from rawtune.tuning import io

    path, inputs, _ = pruned
    want = {"heads": [1, 2], "intermediate": [32, 64]}
    saved = []
    writers = io.tuned_writers

    def capture(tuned, *args, **kwargs):  # the model as each writer saves it (after training)
        def recording(write):
            def saving(d):
                write(d)
                saved.append((shape(tuned.model), logits(tuned.model, inputs), encoder_state(tuned.model)))

            return saving

        return {name: recording(write) for name, write in writers(tuned, *args, **kwargs).items()}

    monkeypatch.setattr(io, "tuned_writers", capture)
    data = {"train": str(cls_data["train"]), "dev": str(cls_data["dev"])}
    cfg = ft_config(task={"name": "classification"}, data=data, train={"max_steps": 4})
    run = run_finetune({**cfg, "model": {"name_or_path": str(path)}, "reinit_head": True})
    trained_shape, trained_logits, trained_encoder = saved[-1]
    assert trained_shape == want  # trained with the pruned shapes
    start = encoder_state(load_task_model(str(path), SEQ_CLS))
    assert any(not torch.equal(v, start[k]) for k, v in trained_encoder.items())  # and it trained

    back = load_task_model(str(run.model_dir), SEQ_CLS)
    assert type(back).__module__ == "rawtune.modeling.pruned_modeling"
    assert shape(back) == want and back.config.id2label == {0: "neg", 1: "pos"}
    assert torch.equal(logits(back, inputs), trained_logits)
    # model/ also loads with plain transformers: the code and auto_map are written for this run's class
    remote = transformers.AutoModelForSequenceClassification.from_pretrained(
        run.model_dir, trust_remote_code=True
    )
    assert torch.equal(logits(remote, inputs), trained_logits)
    module_file = sys.modules[type(remote).__module__].__file__
    assert module_file.startswith(os.environ["HF_MODULES_CACHE"])  # tests keep ~/.cache clean

    # a run directory as the starting model (its model/, the same labels: no head to re-initialise)
    again_cfg = ft_config(task={"name": "classification"}, data=data, train={"max_steps": 2})
    again_cfg.update(output=str(run.path.parent / "again"), model={"name_or_path": str(run.path)})
    again = run_finetune(again_cfg)
    assert saved[-1][0] == want
    assert torch.equal(logits(load_task_model(str(again.model_dir), SEQ_CLS), inputs), saved[-1][1])
