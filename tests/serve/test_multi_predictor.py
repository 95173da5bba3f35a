"""Several runs in one Predictor: each predicts exactly as it does loaded alone, in any order of
requests; runs from one base hold its weights once, and only weights that are equal are shared."""

from __future__ import annotations

import pytest

from rawtune.serve.predictor import Predictor
from rawtune.stages.finetune import run_finetune

# no warm-up: with it the first step's learning rate is 0, and runs of one task that keep step 2
# hold heads trained by one identical update (byte-equal, so rightly shared, but not what is tested)
SHORT = {"max_steps": 4, "eval_steps": 2, "save_steps": 4, "batch_size": 8, "warmup_ratio": 0.0}
RUNS = {  # name: (task, method); the order is the Predictor's, the first is the default
    "ner-lora": ("ner", "lora"),
    "cls-lora": ("classification", "lora"),
    "cls-ia3": ("classification", "ia3"),
    "cls-prompt": ("classification", "prompt"),
    "cls-full": ("classification", "full"),
    "ner-adapter": ("ner", "adapter"),  # rawtune's own adapter format
    "cls-bitfit": ("classification", "bitfit"),
}
ADAPTER_RUNS = ["ner-lora", "cls-lora", "cls-ia3", "cls-prompt", "ner-adapter", "cls-bitfit"]
TEXTS = {
    "ner": ["Maria Lopez flew to Paris on Monday.", "The bank in Berlin hired John Smith."],
    "classification": ["the film was good and great", "the meal was awful and dull", "the show was fine"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_backbone, ner_data, cls_data) -> dict[str, str]:
    root = tmp_path_factory.mktemp("multi")
    out = {}
    for name, (task, method) in RUNS.items():
        data = ner_data if task == "ner" else cls_data
        cfg = {
            "output": str(root / name),
            "seed": 3,
            "model": {"name_or_path": str(tiny_backbone)},
            "task": {"name": task},
            "data": {"train": str(data["train"]), "dev": str(data["dev"]), "max_length": 64, "stride": 16},
            "tuning": {"method": method, **({"num_virtual_tokens": 4} if method == "prompt" else {})},
            "train": {**SHORT, "lr": 3e-3, "threads": 1, "progress": False, "log_steps": 1},
        }
        out[name] = str(run_finetune(cfg).path)
    return out


@pytest.fixture(scope="module")
def multi(runs) -> Predictor:
    return Predictor.from_runs(runs)


@pytest.fixture(scope="module")
def alone(runs, tiny_backbone) -> dict[str, Predictor]:
    """Each run loaded by itself the way from_runs loads it (adapter runs: base + adapter)."""
    return {
        name: Predictor.from_run(path, base=str(tiny_backbone) if name in ADAPTER_RUNS else None)
        for name, path in runs.items()
    }


def _texts(name: str) -> list[str]:
    return TEXTS[RUNS[name][0]]


def _same(a: list[dict], b: list[dict], abs: float) -> None:
    """Equal records: every label, tag, entity and offset exactly, every score within `abs`."""

    def split(x, floats):
        if isinstance(x, float):
            floats.append(x)
            return "<float>"
        if isinstance(x, dict):
            return {k: split(v, floats) for k, v in x.items()}
        if isinstance(x, list):
            return [split(v, floats) for v in x]
        return x

    fa, fb = [], []
    assert split(a, fa) == split(b, fb)
    assert fa == pytest.approx(fb, abs=abs)


def _slots(model):
    """name -> tensor for every parameter and buffer slot (tied and non-persistent ones included)."""
    out = {}
    for mname, module in model.named_modules(remove_duplicate=False):
        for kind in ("_parameters", "_buffers"):
            for n, t in getattr(module, kind).items():
                if t is not None:
                    out[f"{mname}.{n}"] = t
    return out


def _groups(ids: dict[str, int]) -> list[list[str]]:
    return sorted(sorted(s for s in ids if ids[s] == i) for i in set(ids.values()))


def _storage(models) -> int:
    seen = {}
    for m in models:
        for t in _slots(m).values():
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(seen.values())


@pytest.mark.slow
def test_each_run_predicts_as_it_does_alone(multi, alone, runs, tiny_backbone):
    assert multi.names == list(RUNS)
    for name in RUNS:
        got = multi.predict(_texts(name), adapter=name)
        _same(got, alone[name].predict(_texts(name)), abs=1e-6)
        assert ("entities" in got[0]) == (RUNS[name][0] == "ner")
        if name in ("cls-lora", "cls-ia3", "ner-lora"):  # also the merged RUN/model/ from_run loads
            _same(got, Predictor.from_run(runs[name]).predict(_texts(name)), abs=1e-5)
    assert set(multi.entry("ner-lora").space.labels) > {"O"}
    assert set(multi.entry("cls-lora").space.labels) == {"neg", "pos"}


def test_order_of_requests_changes_nothing(multi):
    first = {name: multi.predict(_texts(name), adapter=name) for name in RUNS}
    for order in (list(reversed(RUNS)), ["cls-full", "ner-lora", "cls-prompt", "cls-lora", "cls-ia3"] * 2):
        for name in order:
            assert multi.predict(_texts(name), adapter=name, batch_size=2) == first[name]


def test_runs_from_one_base_hold_it_once(multi, alone, tiny_backbone):
    from transformers import BertModel

    separate = _storage(a.model for a in alone.values())
    stored = _storage(e.model for e in map(multi.entry, RUNS))
    stats = multi.memory()
    assert stats["separate"] == separate and stats["stored"] == stored
    assert multi.shared_bytes() == separate - stored
    assert sum(stats["models"].values()) == separate
    backbone = _storage([BertModel.from_pretrained(tiny_backbone)])
    # four adapter runs on one base: at least three of its copies are gone
    assert separate - stored >= 3 * backbone * 0.95, (separate, stored, backbone)


def test_only_equal_tensors_are_shared(multi, alone):
    """Sharing never changes a value: every slot equals the same slot of the run loaded alone; a
    model keeps its own tying; and the trained weights of the full run are its own."""
    import torch

    owners: dict[int, list[tuple[str, str]]] = {}
    for name in RUNS:
        mine, theirs = _slots(multi.entry(name).model), _slots(alone[name].model)
        assert mine.keys() == theirs.keys()
        for slot, t in mine.items():
            assert t.dtype == theirs[slot].dtype and t.device == theirs[slot].device
            if ".original_module." in slot:  # peft keeps the base's unused head: a fresh init per load
                continue
            assert t.shape == theirs[slot].shape and torch.equal(t, theirs[slot]), slot
            owners.setdefault(t.untyped_storage().data_ptr(), []).append((name, slot))
        # same tying: two slots are one tensor exactly when they are one in the run loaded alone
        ids_mine = {slot: id(t) for slot, t in mine.items()}
        ids_alone = {slot: id(t) for slot, t in theirs.items()}
        assert _groups(ids_mine) == _groups(ids_alone)
    shared = {ptr: o for ptr, o in owners.items() if len({n for n, _ in o}) > 1}
    assert shared
    slot_of = {(n, s): t for n in RUNS for s, t in _slots(alone[n].model).items()}
    for pairs in shared.values():  # equal in the runs loaded alone too
        ref = slot_of[pairs[0]]
        assert all(torch.equal(slot_of[p], ref) for p in pairs[1:])
    # the LoRA runs share the base's query weight; the full run's trained one is its own
    lora_q = "base_model.model.bert.encoder.layer.0.attention.self.query.base_layer.weight"
    full_q = "bert.encoder.layer.0.attention.self.query.weight"
    q = {n: _slots(multi.entry(n).model) for n in ("ner-lora", "cls-lora", "cls-full")}
    assert q["ner-lora"][lora_q] is q["cls-lora"][lora_q]
    assert q["cls-full"][full_q].data_ptr() != q["cls-lora"][lora_q].data_ptr()
    assert not torch.equal(q["cls-full"][full_q], q["cls-lora"][lora_q])
    full_ptrs = {t.untyped_storage().data_ptr() for t in _slots(multi.entry("cls-full").model).values()}
    for name in ADAPTER_RUNS:
        for slot, t in _slots(multi.entry(name).model).items():
            if t.untyped_storage().data_ptr() in full_ptrs:
                assert "weight" not in slot or "LayerNorm" in slot, (slot, _runs_summary(multi))


def test_unknown_name_lists_the_loaded_ones(multi, tmp_path):
    from rawtune.errors import ModelError

    with pytest.raises(ModelError) as e:
        multi.predict(["x"], adapter="cls")
    assert "'cls'" in str(e.value)
    for name in RUNS:
        assert repr(name) in str(e.value)
    with pytest.raises(ModelError, match="loaded:"):
        multi.predict_file(str(tmp_path / "missing.txt"), str(tmp_path / "out.jsonl"), adapter="nope")


def test_the_first_run_is_the_default(multi, runs):
    from pathlib import Path

    texts = _texts("ner-lora")
    assert multi.predict(texts) == multi.predict(texts, adapter="ner-lora")
    first = multi.entry("ner-lora")
    assert multi.model is first.model and multi.task.name == "ner" and multi.space is first.space
    assert multi.tokenizer is first.tokenizer and multi.run_path == Path(runs["ner-lora"])


def test_predict_file_per_run(multi, tmp_path):
    import json

    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS["classification"]) + "\n")
    out = tmp_path / "out.jsonl"
    assert multi.predict_file(str(src), str(out), adapter="cls-ia3", progress=False) == 3
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    want = multi.predict(TEXTS["classification"], adapter="cls-ia3")
    assert [r["label"] for r in recs] == [w["label"] for w in want]
    assert [r["source"] for r in recs] == [f"{src}:{i}" for i in (1, 2, 3)]


def test_add_to_a_one_run_predictor(runs, alone, tiny_backbone, caplog):
    from rawtune.errors import ModelError, RunDirError

    pred = Predictor.from_run(runs["cls-full"])
    assert pred.names == ["default"] and pred.shared_bytes() == 0
    with caplog.at_level("INFO", logger="rawtune"):
        pred.add("ner", runs["ner-lora"])
    assert any("'ner' (ner)" in r.getMessage() and "shares" in r.getMessage() for r in caplog.records)
    pred.add("cls", runs["cls-lora"], base=str(tiny_backbone))
    assert pred.names == ["default", "ner", "cls"]
    assert pred.shared_bytes() > 0
    _same(pred.predict(TEXTS["ner"], adapter="ner"), alone["ner-lora"].predict(TEXTS["ner"]), abs=1e-6)
    with pytest.raises(ModelError, match="already loaded"):
        pred.add("ner", runs["cls-ia3"])
    with pytest.raises(RunDirError, match="base= needs a run with an adapter"):
        pred.add("full2", runs["cls-full"], base=str(tiny_backbone))
    assert pred.names == ["default", "ner", "cls"]


def test_merged_runs_share_what_merging_left_alone(runs):
    pred = Predictor.from_runs({n: runs[n] for n in ("cls-lora", "ner-lora")}, merged=True)
    a, b = (_slots(pred.entry(n).model) for n in pred.names)
    emb = "bert.embeddings.word_embeddings.weight"
    assert a[emb] is b[emb]  # LoRA never touched the embeddings
    q = "bert.encoder.layer.0.attention.self.query.weight"
    assert a[q] is not b[q]  # each run's LoRA is merged into its own query
    assert 0 < pred.shared_bytes() < pred.memory()["separate"] / 2


def _runs_summary(multi) -> dict:
    """Each run's best step and dev accuracy: in a failure message, shows whether two runs ended on the
    same (restored) weights."""
    import json

    out = {}
    for n in multi.names:
        m = json.loads((multi.entry(n).run_path / "metrics.json").read_text())
        out[n] = (m["train"].get("best_step"), m.get("dev", {}).get("accuracy"))
    return out
