"""The tuning contract matrix: every method x {ner, classification, pairs} trains on the tiny backbone
with finite loss; the trainable parameters are the method's own and reduce the loss; an adapter
changes the base model's outputs; what the run saved is the adapter alone and reloads to exactly the
reported dev metrics (the head included); merging equals the adapter model and is idempotent; an
adapter is refused on another base."""

from __future__ import annotations

import json
import math
import typing

import pytest

from rawtune.stages.evaluate import evaluate_run
from rawtune.stages.finetune import run_finetune
from rawtune.tuning.base import tuning_options

TRAINABLE = ["full", "freeze", "bitfit", "lora", "ia3", "prompt", "prefix", "adapter"]
OPTIONS = {
    "freeze": {"freeze_layers": 1, "freeze_embeddings": True},
    "prompt": {"num_virtual_tokens": 4},
    "prefix": {"num_virtual_tokens": 4},
    "adapter": {"adapter_placement": "houlsby", "adapter_reduction": 4},
}
ADAPTER = {"bitfit", "lora", "ia3", "prompt", "prefix", "adapter"}  # write RUN/adapter/
PEFT = {"lora", "ia3", "prompt"}  # ... in peft's format
MERGEABLE = {"bitfit", "lora", "ia3"}  # ... and RUN/model/ merged
DATA = {"ner": "ner_data", "classification": "cls_data", "pairs": "pair_data"}
SHORT = {"max_steps": 4, "eval_steps": 2, "save_steps": 2, "batch_size": 8}


def _run(ft_config, task: str, data: dict, method: str, **train):
    columns = {"text_column": "text_a"} if task == "pairs" else {}
    sections = {
        "task": {"name": task},
        "data": {
            "train": str(data["train"]),
            "dev": str(data["dev"]),
            "max_length": 64,
            "stride": 16,
            **columns,
        },
        "tuning": {"method": method, **OPTIONS.get(method, {})},
        "train": {**SHORT, **train},
    }
    return run_finetune(ft_config(**sections))


def test_registry_matches_schema():
    from rawtune.config.options import TUNING_OPTIONS
    from rawtune.tuning.base import METHODS

    # every method has its options class, whose `method` names it
    literal = {
        typing.get_args(TUNING_OPTIONS.get(m).model_fields["method"].annotation)[0] for m in TUNING_OPTIONS
    }
    assert set(METHODS.names()) == set(TUNING_OPTIONS.names()) == literal


@pytest.mark.parametrize("method", TRAINABLE)
@pytest.mark.parametrize("task", list(DATA))
def test_method_trains_saves_and_reloads(request, ft_config, task, method):
    data = request.getfixturevalue(DATA[task])
    run = _run(ft_config, task, data, method)
    losses = [r["loss"] for r in run.read_metrics() if r["kind"] == "train"]
    assert len(losses) >= 2 and all(math.isfinite(x) for x in losses)
    m = json.loads(run.metrics_json.read_text())
    params = m["train"]["parameters"]
    assert set(params) == {"trainable", "total", "percent"}
    assert 0 < params["trainable"] <= params["total"]
    assert (params["trainable"] == params["total"]) == (method == "full")
    manifest = run.manifest()
    assert manifest["parameters"] == params and manifest["tuning"]["method"] == method
    assert (run.adapter_dir / "rawtune_adapter.json").is_file() == (method in ADAPTER)
    assert (run.adapter_dir / "adapter_config.json").is_file() == (method in PEFT)
    assert (run.model_dir / "config.json").is_file() == (method not in ADAPTER - MERGEABLE)
    if method in ADAPTER:
        base = manifest["tuning"]["base"]
        assert base["ref"] == str(ft_config()["model"]["name_or_path"]) and len(base["fingerprint"]) == 16
        assert not (run.adapter_dir / "model.safetensors").exists()  # the adapter only, not the model
        weights = sum(p.stat().st_size for p in run.adapter_dir.glob("*.safetensors"))
        assert 0 < weights < 0.25 * 4 * params["total"]  # a fraction of the fp32 model
    # what the run saved gives exactly the in-memory model's dev numbers at the end of training
    key = "f1" if task == "ner" else "accuracy"
    again, _ = evaluate_run(str(run.path), str(data["dev"]), name="again")
    assert again[key] == m["dev"][key]
    assert again["loss"] == pytest.approx(m["dev"]["loss"], abs=1e-5)


def _task_model(tiny_backbone, kind: str):
    import torch
    import transformers

    torch.manual_seed(0)
    auto = getattr(transformers, f"AutoModelFor{kind}Classification")
    return auto.from_pretrained(tiny_backbone, num_labels=3)


@pytest.mark.parametrize("kind", ["Token", "Sequence"])
@pytest.mark.parametrize(
    "method, allowed",
    [
        ("full", None),
        ("bitfit", lambda n: n.endswith("bias")),
        ("lora", lambda n: "lora_" in n),
        ("ia3", lambda n: "ia3_" in n),
        ("prompt", lambda n: "prompt_encoder" in n),
        ("prefix", lambda n: n.endswith(("prefix_key", "prefix_value"))),
        ("adapter", lambda n: ".adapter." in n),
    ],
)
def test_trainable_parameters_are_the_methods(tiny_backbone, kind, method, allowed):
    from rawtune.tuning import apply

    tuned = apply(_task_model(tiny_backbone, kind), tuning_options(method), base_ref=str(tiny_backbone))
    names = [n for n, p in tuned.model.named_parameters() if p.requires_grad]
    frozen = [n for n, p in tuned.model.named_parameters() if not p.requires_grad]
    assert any("classifier" in n for n in names), "the head must train"
    if allowed is None:
        assert not frozen
    else:
        assert all(allowed(n) or "classifier" in n for n in names), names
        assert any(allowed(n) for n in names)
        assert frozen
    report = tuned.parameters
    assert report["trainable"] == sum(p.numel() for p in tuned.model.parameters() if p.requires_grad)


def _perturb(model, skip_head: bool = False) -> None:
    """A trained adapter: LoRA's B and a bottleneck's up-projection start at zero, IA3 at one."""
    import torch

    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.requires_grad and not (skip_head and "classifier" in n):
                p.add_(torch.randn_like(p) * 0.5)


@pytest.mark.parametrize("kind", ["Token", "Sequence"])
@pytest.mark.parametrize("method", sorted(ADAPTER))
def test_adapter_changes_the_base_and_merges_exactly(tiny_backbone, kind, method):
    import torch

    from rawtune.errors import ModelError
    from rawtune.tuning import apply
    from rawtune.tuning.io import merge

    model = _task_model(tiny_backbone, kind)
    ids = torch.randint(5, 100, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    with torch.no_grad():
        base = model.eval()(input_ids=ids, attention_mask=mask).logits.clone()
    cfg = tuning_options(method, **{"lora": {"lora_dropout": 0.0}, **OPTIONS}.get(method, {}))
    tuned = apply(model, cfg, base_ref=str(tiny_backbone))
    _perturb(tuned.model, skip_head=True)  # the method's own parameters alone change the outputs
    tuned.model.eval()
    with torch.no_grad():
        unmerged = tuned.model(input_ids=ids, attention_mask=mask).logits.clone()
    assert unmerged.shape == base.shape
    assert (unmerged - base).abs().max() > 1e-3 * base.abs().max()  # a random tiny model moves little
    if method not in MERGEABLE:
        with pytest.raises(ModelError, match="cannot be merged"):
            merge(tuned.model)
        return
    with torch.no_grad():
        once_model = merge(tuned.model).eval()
        once = once_model(input_ids=ids, attention_mask=mask).logits
        twice = merge(once_model).eval()(input_ids=ids, attention_mask=mask).logits
        again = tuned.model(input_ids=ids, attention_mask=mask).logits
    assert type(once_model).__name__.startswith("Bert")  # a plain transformers model
    torch.testing.assert_close(once, unmerged, atol=1e-5, rtol=0)
    torch.testing.assert_close(twice, once, atol=0, rtol=0)  # merging a merged model changes nothing
    torch.testing.assert_close(again, unmerged, atol=0, rtol=0)  # merging left the adapter model alone


@pytest.mark.parametrize("method", TRAINABLE)
def test_trainable_parameters_reduce_the_loss(tiny_backbone, method):
    """Gradients reach the method's parameters and fitting one batch lowers the loss."""
    import torch

    from rawtune.tuning import apply

    model = _task_model(tiny_backbone, "Sequence")
    cfg = tuning_options(method, **{**OPTIONS, "freeze": {"freeze_layers": 1}}.get(method, {}))
    tuned = apply(model, cfg, base_ref=str(tiny_backbone))
    torch.manual_seed(1)
    ids, labels = torch.randint(5, 100, (8, 12)), torch.randint(0, 3, (8,))
    params = [p for p in tuned.model.parameters() if p.requires_grad]
    before = {n: p.detach().clone() for n, p in tuned.model.named_parameters() if p.requires_grad}
    lr = 1e-1 if method == "prompt" else 1e-2  # soft prompts learn at a far higher rate
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    tuned.model.eval()  # no dropout: the loss moves only by what the optimiser does
    losses = []
    for _ in range(30):
        loss = tuned.model(input_ids=ids, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(x) for x in losses)
    # soft prompts steer a random tiny model only weakly: they must still lower the loss
    assert losses[-1] < (0.97 if method == "prompt" else 0.9) * losses[0], losses
    moved = [
        n for n, p in tuned.model.named_parameters() if p.requires_grad and not torch.equal(p, before[n])
    ]
    assert any("classifier" not in n for n in moved), "only the head learned"


def test_prefix_refused_where_attention_takes_no_cache():
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    from rawtune.errors import ConfigError
    from rawtune.tuning import apply

    config = DistilBertConfig(vocab_size=120, dim=32, n_layers=2, n_heads=2, hidden_dim=64)
    with pytest.raises(ConfigError, match=r"tuning.method: 'prefix' cannot run on DistilBert"):
        apply(DistilBertForSequenceClassification(config), tuning_options("prefix"), base_ref="d")


def test_adapter_placements_differ(tiny_backbone):
    from rawtune.tuning import apply

    def adapted(placement: str) -> list[str]:
        cfg = tuning_options("adapter", adapter_placement=placement)
        tuned = apply(_task_model(tiny_backbone, "Token"), cfg, base_ref=str(tiny_backbone))
        return sorted(
            {n.split(".adapter.")[0] for n, _ in tuned.model.named_parameters() if ".adapter." in n}
        )

    layers = 2
    assert adapted("pfeiffer") == [f"bert.encoder.layer.{i}.output.dense" for i in range(layers)]
    houlsby = adapted("houlsby")
    assert len(houlsby) == 2 * layers
    assert "bert.encoder.layer.0.attention.output.dense" in houlsby


def test_unknown_target_module_lists_existing(tiny_backbone):
    from rawtune.errors import ConfigError
    from rawtune.tuning import apply

    cfg = tuning_options("lora", target_modules=["query", "q_proj"])
    with pytest.raises(ConfigError) as e:
        apply(_task_model(tiny_backbone, "Sequence"), cfg, base_ref=str(tiny_backbone))
    msg = str(e.value)
    assert "tuning.target_modules" in msg and "'q_proj'" in msg
    for existing in ("query", "key", "value", "dense", "classifier"):
        assert existing in msg


def test_option_of_another_method_is_refused():
    from rawtune.config.loader import load_config
    from rawtune.errors import ConfigError

    with pytest.raises(ConfigError, match=r"tuning.lora_r applies to method 'lora', not 'ia3'"):
        load_config("finetune", overrides={"tuning.method": "ia3", "tuning.lora_r": 4}, require=False)
    with pytest.raises(ConfigError, match="did you mean 'lora'"):
        load_config("finetune", overrides={"tuning.method": "lorra"}, require=False)


def _finished_run(tmp_path_factory, tiny_backbone, cls_data, method: str):
    out = tmp_path_factory.mktemp(method) / "run"
    cfg = {
        "output": str(out),
        "seed": 3,
        "model": {"name_or_path": str(tiny_backbone)},
        "task": {"name": "classification"},
        "data": {"train": str(cls_data["train"]), "dev": str(cls_data["dev"])},
        "tuning": {"method": method},
        "train": {
            **SHORT,
            "max_steps": 8,
            "keep_checkpoints": 10,
            "lr": 3e-3,
            "threads": 1,
            "progress": False,
            "log_steps": 1,
        },
    }
    return run_finetune(cfg), cfg


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, tiny_backbone, cls_data):
    return _finished_run(tmp_path_factory, tiny_backbone, cls_data, "lora")


@pytest.fixture(scope="module")
def bottleneck_run(tmp_path_factory, tiny_backbone, cls_data):
    return _finished_run(tmp_path_factory, tiny_backbone, cls_data, "adapter")


def test_adapter_round_trip_keeps_the_head(lora_run, tiny_backbone, cls_data):
    import torch

    from rawtune.serve.predictor import Predictor

    run, _ = lora_run
    merged = Predictor.from_run(run.path)
    adapter = Predictor.from_run(run.path, base=str(tiny_backbone))  # base + adapter/
    texts = ["the film was good and great", "the meal was awful and dull"]
    a, b = merged.predict(texts), adapter.predict(texts)
    assert [r["label"] for r in a] == [r["label"] for r in b]
    for ra, rb in zip(a, b):
        for lab in ra["scores"]:
            assert ra["scores"][lab] == pytest.approx(rb["scores"][lab], abs=1e-5)
    wrapper = adapter.model.base_model.model.classifier  # peft's modules_to_save wrapper
    head = wrapper.modules_to_save["default"].weight
    assert torch.equal(head, merged.model.classifier.weight)
    assert not torch.allclose(head, wrapper.original_module.weight)  # trained, not the fresh init


@pytest.mark.parametrize("finished", ["lora_run", "bottleneck_run"])
def test_adapter_on_another_base_is_refused(request, finished, tmp_path):
    import torch
    from transformers import BertConfig, BertModel

    from rawtune.errors import ModelError
    from rawtune.serve.predictor import Predictor

    run, cfg = request.getfixturevalue(finished)
    other = tmp_path / "other"
    config = BertConfig.from_pretrained(cfg["model"]["name_or_path"])
    torch.manual_seed(123)
    BertModel(config).save_pretrained(other)
    expected = run.manifest()["tuning"]["base"]["fingerprint"]
    with pytest.raises(ModelError) as e:
        Predictor.from_run(run.path, base=str(other))
    assert expected in str(e.value) and str(other) in str(e.value)


def test_lora_resume_gives_identical_metrics(lora_run, tmp_path):
    import shutil

    run, cfg = lora_run
    crashed = tmp_path / "crashed"
    # the same run "killed" after its step-4 checkpoint: drop what came later, then --resume
    ref_dir = tmp_path / "ref"
    shutil.copytree(run.path, ref_dir)
    shutil.copytree(run.path, crashed)
    for name in ("model", "adapter", "eval", "metrics.json"):
        p = crashed / name
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    steps = sorted(int(p.name.split("-")[1]) for p in (crashed / "checkpoints").iterdir())
    for s in steps[1:]:
        shutil.rmtree(crashed / "checkpoints" / f"step-{s}")
    manifest = json.loads((crashed / "manifest.json").read_text())
    (crashed / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    # the run directory is the same path in the config: move the reference aside and resume in place
    shutil.rmtree(run.path)
    shutil.copytree(crashed, run.path)
    try:
        resumed = run_finetune(cfg, resume=True)
        a = json.loads((ref_dir / "metrics.json").read_text())
        b = json.loads(resumed.metrics_json.read_text())
        assert b["train"]["resumed_from"] == steps[0]
        assert a["dev"] == b["dev"]
        keys = ("step", "kind", "loss", "accuracy")
        rows = [[{k: r[k] for k in keys if k in r} for r in x.read_metrics()] for x in (run, resumed)]
        ref_rows = [json.loads(x) for x in (ref_dir / "metrics.jsonl").read_text().splitlines()]
        assert rows[1] == [{k: r[k] for k in keys if k in r} for r in ref_rows]
    finally:
        shutil.rmtree(run.path)
        shutil.copytree(ref_dir, run.path)
