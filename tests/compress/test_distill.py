"""Distillation: the teacher is never changed, the student's loss falls, a student cut from the
teacher's layers is an ordinary shallower model, and `rawtune compress --distill` (labeled data and
raw text) writes a run that is measured, gated, reloaded and used like any other."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForTokenClassification, BertConfig, BertForTokenClassification

from rawtune.cli.main import main
from rawtune.compress.distill import DistillCollator, DistillLoss
from rawtune.compress.student import keep_layers, spread, student_from_teacher
from rawtune.errors import ModelError
from rawtune.tasks.token_classification import TokenClassifierLoss


def _tiny(layers: int = 4, labels: int = 5) -> BertForTokenClassification:
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=60,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=labels,
        hidden_dropout_prob=0.0,  # a deterministic loss curve
        attention_probs_dropout_prob=0.0,
    )
    return BertForTokenClassification(cfg).eval()


def test_spread_keeps_first_and_last():
    assert spread(6, 3) == [0, 3, 5]
    assert spread(12, 6) == [0, 2, 4, 7, 9, 11]
    assert spread(6, 1) == [5] and spread(4, 4) == [0, 1, 2, 3]
    with pytest.raises(ModelError):
        spread(4, 5)


def test_student_is_the_teachers_layers_and_reloads(tmp_path):
    teacher = _tiny(4)
    ids = torch.randint(5, 60, (2, 9))
    # all layers kept, in order: the very same function
    same = keep_layers(teacher, [0, 1, 2, 3])
    with torch.no_grad():
        assert torch.equal(same(input_ids=ids).logits, teacher(input_ids=ids).logits)
    student, keep = student_from_teacher(teacher, 2)
    assert keep == [0, 3] and student.config.num_hidden_layers == 2
    assert teacher.config.num_hidden_layers == 4 and len(teacher.bert.encoder.layer) == 4  # untouched
    layer0 = student.bert.encoder.layer[1].attention.self.query.weight
    assert torch.equal(layer0, teacher.bert.encoder.layer[3].attention.self.query.weight)
    assert layer0.data_ptr() != teacher.bert.encoder.layer[3].attention.self.query.weight.data_ptr()
    student.save_pretrained(tmp_path)
    back = AutoModelForTokenClassification.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert torch.equal(back(input_ids=ids).logits, student.eval()(input_ids=ids).logits)
    with pytest.raises(ModelError, match="not smaller"):
        student_from_teacher(teacher, 4)


def _batch(labels: bool = True) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    samples = []
    for n in (7, 9, 5, 8):
        s = {
            "input_ids": torch.randint(5, 60, (n,), generator=g).tolist(),
            "positions": list(range(1, n - 1)),
        }
        if labels:
            s["labels"] = [-100, *torch.randint(0, 5, (n - 2,), generator=g).tolist(), -100]
        samples.append(s)
    from rawtune.tasks.features import PadCollator

    return DistillCollator(PadCollator(0, "tokens"), "tokens", 5)(samples)


@pytest.mark.parametrize("hidden,attention", [(0.0, 0.0), (1.0, 1.0)])
def test_distillation_leaves_teacher_unchanged_and_lowers_student_loss(hidden, attention):
    teacher = _tiny(4)
    if attention:
        teacher.set_attn_implementation("eager")
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student, keep = student_from_teacher(teacher, 2)
    for p in student.parameters():
        p.requires_grad_(True)
    module = DistillLoss(
        student,
        teacher,
        TokenClassifierLoss(student),
        "tokens",
        temperature=2.0,
        alpha=0.5,
        hidden_weight=hidden,
        attention_weight=attention,
        layer_map=keep,
    )
    assert not any(k.startswith("teacher") for k in module.state_dict())  # never checkpointed
    assert all(p.requires_grad for p in module.parameters())  # the teacher is not among them
    batch = _batch()
    opt = torch.optim.AdamW(module.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        module.train()
        assert not teacher.training  # train() never reaches the teacher (no dropout in its targets)
        out = module(**batch)
        losses.append(float(out["loss"].detach()))
        out["loss"].backward()
        opt.step()
        opt.zero_grad()
    assert losses[-1] < 0.6 * losses[0]
    assert out["count"] == int(batch["soft_mask"].sum())
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in teacher.parameters())


def test_soft_loss_is_zero_when_student_equals_teacher_and_raw_rows_have_no_hard_loss():
    teacher = _tiny(2)
    twin = keep_layers(teacher, [0, 1])
    module = DistillLoss(twin, teacher, TokenClassifierLoss(twin), "tokens", alpha=1.0)
    module.eval()
    torch.set_grad_enabled(False)
    out = module(**_batch(labels=False))
    assert float(out["loss"]) == pytest.approx(0.0, abs=1e-6)
    assert out["correct"] == out["count"]  # full agreement
    # unlabeled rows: labels all ignored, so alpha < 1 adds nothing
    module.alpha = 0.3
    assert float(module(**_batch(labels=False))["loss"]) == pytest.approx(0.0, abs=1e-6)
    torch.set_grad_enabled(True)


def test_distil_labeled_and_raw_text_via_the_cli(ner_run, ner_data, tmp_path):
    from rawtune.serve.predictor import Predictor

    out = tmp_path / "student"
    args = ["compress", str(ner_run.path), "--distill", "--student-layers", "1", "--output", str(out)]
    args += [
        "--raw-text",
        str(ner_data["raw"]),
        "--distill.max_raw_examples",
        "40",
        "--max-metric-drop",
        "100",
    ]
    args += ["--train.max_steps", "4", "--train.eval_steps", "2", "--train.save_steps", "2"]
    args += ["--train.batch_size", "8", "--train.threads", "1", "--train.progress", "false"]
    args += ["--measure.repeats", "1", "--measure.probe_examples", "8"]
    assert main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["method"] == "distill" and m["student"]["layers"] == 1 and m["student"]["teacher_layers"] == [1]
    assert m["training"]["labeled"] == 64 and m["training"]["raw_text"] == 40 and m["training"]["steps"] == 4
    assert m["size"]["compressed"]["parameters"] < m["size"]["parent"]["parameters"]
    assert (out / "checkpoints").is_dir() and json.loads((out / "manifest.json").read_text())["parent"]
    model = AutoModelForTokenClassification.from_pretrained(out / "model")
    assert model.config.num_hidden_layers == 1 and model.config.id2label == ner_run_labels(ner_run)
    pred = Predictor.from_run(out)
    assert pred.predict(["Maria Lopez flew to Paris ."])[0]["tags"]
    # --resume of a finished run does nothing and says so
    assert main([*args, "--resume"]) == 0


def ner_run_labels(run) -> dict[int, str]:
    cfg = json.loads((run.path / "model" / "config.json").read_text())
    return {int(k): v for k, v in cfg["id2label"].items()}


def test_distil_classification_on_raw_text_only(ft_config, cls_data, tmp_path):
    from rawtune.stages.compress import compress_run
    from rawtune.stages.finetune import run_finetune

    cfg = ft_config(
        task={"name": "classification"}, data={"train": str(cls_data["train"]), "dev": str(cls_data["dev"])}
    )
    parent = run_finetune(cfg)
    raw = tmp_path / "raw.txt"
    raw.write_text("the film was good\n\nthe meal was awful and dull\nthe show was fine\n")
    _, summary = compress_run(
        {
            "parent": str(parent.path),
            "output": str(tmp_path / "s"),
            "distill": {"student_layers": 1, "labeled": False, "raw_text": str(raw)},
            "train": {"max_steps": 2, "batch_size": 2, "threads": 1, "progress": False},
            "measure": {"repeats": 1, "probe_examples": 4},
        }
    )
    assert summary["training"] == {**summary["training"], "labeled": 0, "raw_text": 3}
    assert summary["student"]["layers"] == 1 and "accuracy" in summary["dev"]


def test_student_with_another_tokenizer_is_refused(ner_run, tmp_path, tiny_bpe_tokenizer):
    from rawtune.errors import ConfigError
    from rawtune.stages.compress import compress_run

    other = tmp_path / "other"
    _tiny(1, 5).save_pretrained(other)
    tiny_bpe_tokenizer.save_pretrained(other)
    with pytest.raises(ConfigError, match="tokenizes differently"):
        compress_run(
            {
                "parent": str(ner_run.path),
                "output": str(tmp_path / "s"),
                "distill": {"student": str(other)},
                "train": {"max_steps": 1, "threads": 1},
            }
        )


def test_teacher_with_a_prompt_adapter_gets_a_student_from_its_base(prompt_ner_run, tiny_backbone, tmp_path):
    from rawtune.stages.compress import compress_run

    parent = prompt_ner_run
    _, summary = compress_run(
        {
            "parent": str(parent.path),
            "output": str(tmp_path / "s"),
            "distill": {"student_layers": 1},
            "train": {"max_steps": 2, "batch_size": 8, "threads": 1, "progress": False},
            "measure": {"repeats": 1, "probe_examples": 4},
        }
    )
    assert summary["student"]["layers"] == 1 and summary["student"]["teacher_layers"] == [1]
    base = AutoModelForTokenClassification.from_pretrained(tiny_backbone, num_labels=9)
    student = AutoModelForTokenClassification.from_pretrained(tmp_path / "s" / "model")
    # the student's embeddings are the base model's (trained for 2 steps at most, so close to them)
    diff = (
        student.bert.embeddings.word_embeddings.weight - base.bert.embeddings.word_embeddings.weight
    ).abs()
    assert float(diff.max()) < 0.05
