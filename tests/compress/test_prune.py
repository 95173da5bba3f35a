"""Pruning (`rawtune compress --prune`): magnitude masks hit the asked sparsity and survive training
and resume; structured pruning removes exactly the heads, neurons and layers a zero gate silences;
a pruned model reloads bit-identically, in rawtune and with plain transformers."""

from __future__ import annotations

import copy
import itertools
import os
import sys
from types import SimpleNamespace

import pytest
import torch

from rawtune.compress import magnitude as M
from rawtune.compress import prune as P
from rawtune.compress import structured as S
from rawtune.errors import ConfigError, ModelError
from rawtune.modeling import pruned as MP

os.environ["HF_HUB_OFFLINE"] = "1"
LAYERS, HEADS, HIDDEN, FFN = 3, 4, 32, 64
TOKEN_CLS = "AutoModelForTokenClassification"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny matrices: a second intra-op thread only adds spin-waits (100x slower on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(auto: str = TOKEN_CLS, seed: int = 0) -> torch.nn.Module:
    import transformers
    from transformers import BertConfig

    config = BertConfig(
        vocab_size=120,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=FFN,
        max_position_embeddings=64,
        num_labels=3,
    )
    torch.manual_seed(seed)
    return getattr(transformers, auto).from_config(config).eval()


def batches(n: int = 2, seq_labels: bool = False) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    out = []
    for _ in range(n):
        ids = torch.randint(5, 120, (4, 10), generator=g)
        shape = (4,) if seq_labels else (4, 10)
        out.append({"input_ids": ids, "attention_mask": torch.ones_like(ids),
                    "labels": torch.randint(0, 3, shape, generator=g)})  # fmt: skip
    return out


def loss_fn(model, batch):
    return model(**batch).loss


def logits(model, batch):
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


# --- spec ---------------------------------------------------------------------------------------------
def test_spec_parses_in_order_and_refuses_bad_ones():
    spec = "heads:0.3, ffn:0.2,layers:1,magnitude:0.5"
    assert P.parse_prune_spec(spec) == [("heads", 0.3), ("ffn", 0.2), ("layers", 1), ("magnitude", 0.5)]
    for bad, says in [
        ("heads", "not KIND:AMOUNT"),
        ("", "not KIND:AMOUNT"),
        ("neurons:0.2", "unknown kind 'neurons'"),
        ("heads:1.5", "not a fraction in (0, 1)"),
        ("magnitude:0", "not a fraction"),
        ("layers:0.5", "not a whole number"),
        ("ffn:abc", "'abc' is not a number"),
        ("heads:0.2,heads:0.3", "'heads' given twice"),
    ]:
        with pytest.raises(ConfigError, match=r"prune\.spec") as e:
            P.parse_prune_spec(bad)
        assert says in str(e.value), (bad, str(e.value))


def test_prune_re_exports_what_the_stage_uses():
    """compress/train.py reaches both modules through `prune as P`: the same objects."""
    for name in set(P.__all__) - {"KINDS", "parse_prune_spec"}:
        assert getattr(P, name) is getattr(next(m for m in (M, S, MP) if hasattr(m, name)), name), name
    used = {"apply_masks", "magnitude_masks", "MagnitudeSchedule", "head_importance", "ffn_importance",
            "layer_importance", "prune_heads", "prune_ffn", "drop_layers", "structure", "sparsity_report",
            "save_pruned"}  # fmt: skip
    assert used <= set(P.__all__)


# --- magnitude ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_magnitude_reaches_sparsity_on_encoder_linears_only(scope):
    model = tiny()
    untouched = {n: p.clone() for n, p in model.named_parameters() if n not in M.prunable_weights(model)}
    M.prune_magnitude(model, 0.6, scope)
    report = M.sparsity_report(model)
    assert abs(report["sparsity"] - 0.6) < 0.01
    assert len(report["layers"]) == LAYERS * 6  # q, k, v, attention out, intermediate, output
    per_layer = report["layers"].values()
    if scope == "layer":
        assert all(abs(s - 0.6) < 0.01 for s in per_layer)
    else:  # global ranking: layers differ, but the smallest weights overall are the ones gone
        kept_min = min(p.abs()[p != 0].min() for p in M.prunable_weights(model).values())
        assert kept_min > 0 and len({round(s, 2) for s in per_layer}) > 1
    for n, p in model.named_parameters():  # embeddings, LayerNorms, biases, classifier as they were
        if n in untouched:
            assert torch.equal(p, untouched[n]), n


def _train(model, schedule, steps: range, opt, after=lambda step: None):
    data = batches(1)[0]
    for step in steps:
        torch.manual_seed(step)  # dropout as a function of the step, like train/loop.py
        opt.zero_grad()
        loss_fn(model.train(), data).backward()
        opt.step()
        schedule.on_step(SimpleNamespace(step=step), {"step": step})
        after(step)


def test_schedule_is_cubic_monotone_keeps_zeros_and_resumes_exactly():
    model = tiny()
    sched = M.MagnitudeSchedule(model, 0.8, start_step=2, end_step=10, every=3)
    levels = [sched.sparsity_at(t) for t in range(14)]
    assert levels[:2] == [0.0, 0.0] and levels[10:] == [0.8] * 4
    assert all(a <= b for a, b in itertools.pairwise(levels))
    assert levels[5] == pytest.approx(0.8 * (1 - (1 - 3 / 8) ** 3))  # updated at 2, 5, 8, 10

    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched.on_start({"step": 0})
    masks, seen, at6 = {}, [], []

    def check(step: int) -> None:
        seen.append(M.sparsity_report(model)["sparsity"])
        masks[step] = {k: v.clone() for k, v in (sched.masks or {}).items()}
        if step == 6:
            at6.extend([copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())])
        if sched.masks:  # AdamW moved every weight; the pruned ones are still exactly zero
            assert all(not p[~masks[step][n]].any() for n, p in M.prunable_weights(model).items())

    _train(model, sched, range(1, 14), opt, check)
    assert seen == sorted(seen) and abs(seen[-1] - 0.8) < 0.01
    assert all(abs(s - lv) < 0.01 for s, lv in zip(seen, levels[1:], strict=True))
    for a, b in zip(list(masks.values()), list(masks.values())[1:], strict=False):
        assert all(not (b[n] & ~a[n]).any() for n in a)  # once pruned, always pruned

    resumed = tiny(seed=5)  # other weights: everything must come from the "checkpoint"
    resumed.load_state_dict(at6[0])
    opt2 = torch.optim.AdamW(resumed.parameters(), lr=1e-2)
    opt2.load_state_dict(at6[1])
    sched2 = M.MagnitudeSchedule(resumed, 0.8, start_step=2, end_step=10, every=3)
    sched2.on_start({"step": 6})
    assert sched2.masks.keys() == masks[6].keys()
    assert all(torch.equal(sched2.masks[n], masks[6][n]) for n in masks[6])
    _train(resumed, sched2, range(7, 14), opt2)
    for (n, a), b in zip(model.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), n


def test_oneshot_schedule_and_early_end_reach_the_target():
    model = tiny()
    sched = M.MagnitudeSchedule.for_training(model, 0.5, "oneshot")
    sched.on_start({"step": 0})
    assert abs(M.sparsity_report(model)["sparsity"] - 0.5) < 0.01
    model = tiny()
    sched = M.MagnitudeSchedule.for_training(model, 0.5, "cubic", total_steps=30)
    sched.on_start({"step": 0})
    _train(model, sched, range(1, 6), torch.optim.SGD(model.parameters(), lr=1e-2))
    assert M.sparsity_report(model)["sparsity"] < 0.5
    sched.on_end({"step": 5})  # stopped early (or restored an earlier best): pruned to the target
    assert abs(M.sparsity_report(model)["sparsity"] - 0.5) < 0.01


# --- structured ---------------------------------------------------------------------------------------
def test_heads_half_removes_exactly_half_and_their_parameters():
    model = tiny()
    before = n_params(model)
    removed = S.prune_heads(model, 0.5, S.head_importance(model, batches(), loss_fn))
    counts = S.structure(model)["heads"]
    assert removed == LAYERS * HEADS // 2 and sum(counts) == LAYERS * HEADS - removed and min(counts) >= 1
    d = HIDDEN // HEADS
    per_head = 3 * (HIDDEN * d + d) + HIDDEN * d  # q, k, v rows with bias + attention-output columns
    assert before - n_params(model) == removed * per_head
    kept = model.config.rawtune_pruning["heads"]
    assert [len(k) for k in kept] == counts and all(set(k) <= set(range(HEADS)) for k in kept)


def test_sliced_model_equals_the_zero_gated_one():
    """Slicing removes the right rows and columns: the pruned model computes what the full model
    computes with those heads and neurons gated to zero, and a dropped layer is a skipped one."""
    full, data = tiny(), batches(1)[0]
    pruned = copy.deepcopy(full)
    g = torch.Generator().manual_seed(7)
    head_imp, ffn_imp = torch.rand(LAYERS, HEADS, generator=g), torch.rand(LAYERS, FFN, generator=g)
    S.prune_heads(pruned, 0.25, head_imp)
    S.prune_ffn(pruned, 0.3, ffn_imp)
    head_gate = torch.ones(LAYERS * HEADS)
    head_gate[head_imp.flatten().argsort()[: LAYERS * HEADS // 4]] = 0
    ffn_gate = torch.ones(LAYERS * FFN)
    ffn_gate[ffn_imp.flatten().argsort()[: round(0.3 * LAYERS * FFN)]] = 0
    with S.gates(full, heads=head_gate.view(LAYERS, HEADS), ffn=ffn_gate.view(LAYERS, FFN)):
        gated = logits(full, data)
    assert not torch.allclose(gated, logits(full, data), atol=1e-3)  # the gates do something
    torch.testing.assert_close(logits(pruned, data), gated, atol=1e-5, rtol=1e-5)
    assert S.structure(pruned)["intermediate"] == (ffn_gate.view(LAYERS, FFN).sum(1)).int().tolist()

    S.drop_layers(pruned, 1, torch.tensor([0.5, 0.1, 0.9]))
    keep = [full.bert.encoder.layer[i] for i in (0, 2)]
    full.bert.encoder.layer = torch.nn.ModuleList(keep)
    with S.gates(full, heads=head_gate.view(LAYERS, HEADS)[[0, 2]], ffn=ffn_gate.view(LAYERS, FFN)[[0, 2]]):
        torch.testing.assert_close(logits(pruned, data), logits(full, data), atol=1e-5, rtol=1e-5)
    assert pruned.config.num_hidden_layers == 2 and pruned.config.rawtune_pruning["layers"] == [0, 2]
    assert [la.attention.self.layer_idx for la in pruned.bert.encoder.layer] == [0, 1]


def test_importance_ranks_a_silenced_head_and_neuron_lowest():
    model = tiny()
    d = HIDDEN // HEADS
    with torch.no_grad():  # head 2 of layer 1 outputs nothing; neuron 5 of layer 0 is always 0
        v = model.bert.encoder.layer[1].attention.self.value
        v.weight[2 * d : 3 * d] = 0
        v.bias[2 * d : 3 * d] = 0
        up = model.bert.encoder.layer[0].intermediate.dense
        up.weight[5], up.bias[5] = 0, 0
    heads = S.head_importance(model, batches(), loss_fn)
    assert heads.shape == (LAYERS, HEADS) and heads.argmin() == 1 * HEADS + 2 and heads[1, 2] == 0
    ffn = S.ffn_importance(model, batches(), loss_fn)
    assert ffn.shape == (LAYERS, FFN) and ffn.argmin() == 5 and ffn[0, 5] == 0
    assert torch.allclose(heads.norm(dim=1), torch.ones(LAYERS))  # per-layer L2 normalisation
    assert all(p.grad is None for p in model.parameters())  # gradients only for the gates
    lay = S.layer_importance(model, batches(), loss_fn)
    assert lay.shape == (LAYERS,) and len(model.bert.encoder.layer) == LAYERS


@pytest.mark.parametrize("auto", [TOKEN_CLS, "AutoModelForSequenceClassification"])
def test_save_pruned_loads_identically_in_rawtune_and_plain_transformers(auto, tiny_tokenizer, tmp_path):
    import transformers

    from rawtune.artifacts.pretrained import load_task_model

    model, data = tiny(auto), batches(2, seq_labels=auto != TOKEN_CLS)
    S.prune_heads(model, 0.4, S.head_importance(model, data, loss_fn))
    S.prune_ffn(model, 0.2, S.ffn_importance(model, data, loss_fn))
    S.drop_layers(model, 1, S.layer_importance(model, data, loss_fn))
    S.prune_heads(model, 0.2, S.head_importance(model, data, loss_fn))  # again, with uneven layers
    expected = logits(model, data[0])
    MP.save_pruned(model, tmp_path, tiny_tokenizer, auto)
    assert (tmp_path / MP.MODULE_FILE).is_file() and not list(tmp_path.glob("*.bin"))

    ours = load_task_model(str(tmp_path), auto)
    assert type(ours).__module__ == "rawtune.modeling.pruned_modeling"  # no remote code
    assert torch.equal(logits(ours, data[0]), expected)
    remote, info = getattr(transformers, auto).from_pretrained(
        tmp_path, trust_remote_code=True, output_loading_info=True
    )
    assert type(remote).__module__.startswith("transformers_modules.")
    module_file = sys.modules[type(remote).__module__].__file__
    assert module_file.startswith(os.environ["HF_MODULES_CACHE"])  # conftest: not into ~/.cache
    assert not any(info.values()), info  # every weight loaded: none missing, unexpected or reshaped
    assert torch.equal(logits(remote.eval(), data[0]), expected)
    with pytest.raises(RuntimeError, match="mismatch"):  # never silently re-initialised
        getattr(transformers, auto).from_pretrained(tmp_path)


def test_uniform_structure_saves_a_plain_transformers_model(tiny_tokenizer, tmp_path):
    from transformers import AutoModelForTokenClassification

    model, data = tiny(), batches(1)
    S.drop_layers(model, 2, S.layer_importance(model, data, loss_fn))
    expected = logits(model, data[0])
    MP.save_pruned(model, tmp_path, tiny_tokenizer, TOKEN_CLS)
    assert not (tmp_path / MP.MODULE_FILE).exists()
    back, info = AutoModelForTokenClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info.values()) and back.config.num_hidden_layers == 1
    assert torch.equal(logits(back.eval(), data[0]), expected)


def test_other_architectures_are_refused_by_name():
    from transformers import DistilBertConfig, DistilBertForTokenClassification, GPT2Config, GPT2Model

    distil = DistilBertForTokenClassification(
        DistilBertConfig(vocab_size=50, dim=32, n_layers=2, n_heads=4, hidden_dim=64)
    )
    with pytest.raises(ModelError, match=r"BERT-family.*DistilBertForTokenClassification.*'distilbert'"):
        S.head_importance(distil, batches(1), loss_fn)
    M.prune_magnitude(distil, 0.5)  # unstructured pruning works on any nn.Linear encoder
    assert abs(M.sparsity_report(distil)["sparsity"] - 0.5) < 0.01
    gpt2 = GPT2Model(GPT2Config(vocab_size=50, n_embd=32, n_layer=2, n_head=4))
    with pytest.raises(ModelError, match="GPT2Model"):
        S.drop_layers(gpt2, 1, torch.zeros(2))
    with pytest.raises(ModelError, match=r"no nn\.Linear"):  # Conv1D projections
        M.magnitude_masks(gpt2, 0.5)
    assert S.structure(gpt2).keys() == {"parameters"}
