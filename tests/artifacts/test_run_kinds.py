"""The contract over every kind of run a rawtune command writes (`artifacts.kinds`): each one loads
through `load_run`, and `rawtune predict`, `rawtune evaluate` and one request to the HTTP server
work on it, with one decode path: the labels `predict` writes for the evaluation file are exactly
those `evaluate` scored. The kinds that do not load, and the exports and compressions a kind cannot
have, are refused in one line naming the kind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rawtune.artifacts.kinds import run_kind
from rawtune.cli.main import main

TRAIN = {"threads": 1, "progress": False, "log_steps": 1, "warmup_ratio": 0.0}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kinds")


def _fewshot(root: Path, name: str, **cfg) -> Path:
    from rawtune.stages.fewshot import run_fewshot

    run_fewshot({"output": str(root / name), "shots": 4, "seed": 0, **cfg})
    return root / name / "seed-0"


def _cls_run(root: Path, backbone: Path, cls_data, **tuning) -> Path:
    from rawtune.stages.finetune import run_finetune

    cfg = {
        "output": str(root / f"cls-{tuning.get('method', 'full')}"),
        "seed": 3,
        "model": {"name_or_path": str(backbone)},
        "task": {"name": "classification"},
        "tuning": tuning or {"method": "full"},
        "data": {"train": str(cls_data["train"]), "dev": str(cls_data["dev"]), "max_length": 32, "stride": 8},
        "train": {"max_steps": 4, "eval_steps": 2, "save_steps": 2, "batch_size": 8, "lr": 3e-3, **TRAIN},
    }
    return run_finetune(cfg).path


def _hub_cache(cache: Path, model_dir: Path, repo: str) -> None:
    """`model_dir` as the Hugging Face cache holds a downloaded `repo` (loadable offline by its id)."""
    entry = cache / f"models--{repo.replace('/', '--')}"
    (entry / "refs").mkdir(parents=True)
    (entry / "refs" / "main").write_text("0" * 40)
    shutil.copytree(model_dir, entry / "snapshots" / ("0" * 40))


@pytest.fixture(scope="module")
def kinds(root, tiny_backbone, cls_data, ner_data, ner_run) -> dict[str, tuple[Path | str, str, str]]:
    """{case: (run, its kind, the data it is evaluated on)}: every kind a command writes."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, BertForMaskedLM

    from rawtune.stages.compress import compress_run
    from rawtune.stages.export import export_run
    from rawtune.stages.zeroshot import run_zeroshot

    cls_dev, ner_dev = str(cls_data["dev"]), str(ner_data["dev"])
    data = {"train": str(cls_data["train"]), "dev": cls_dev, "max_length": 32}
    model = {"name_or_path": str(tiny_backbone)}
    out: dict[str, tuple[Path | str, str, str]] = {"finetune ner": (ner_run.path, "finetune", ner_dev)}
    cls = _cls_run(root, tiny_backbone, cls_data)
    out["finetune classification"] = (cls, "finetune", cls_dev)
    from rawtune.stages.continual import run_continual

    run_continual({"previous": str(cls), "output": str(root / "continual"), "data": {"new": str(cls_data["train"])},
                   "train": {"max_steps": 2, "batch_size": 8, **TRAIN}})  # fmt: skip
    out["continual"] = (root / "continual", "finetune", cls_dev)
    export_run(str(ner_run.path), str(root / "onnx"), onnx=True)
    out["onnx export"] = (root / "onnx", "onnx", ner_dev)
    compress_run({"parent": str(cls), "output": str(root / "int8"), "quantize": "int8",
                  "measure": {"threads": 1, "repeats": 1, "latency_examples": 4, "probe_examples": 8}})  # fmt: skip
    out["compress int8"] = (root / "int8", "finetune", cls_dev)
    setfit = {"iterations": 2, "train": {**TRAIN, "epochs": 1}}
    out["setfit"] = (
        _fewshot(root, "setfit", method="setfit", model=model, data=data, setfit=setfit),
        "setfit",
        cls_dev,
    )
    torch.manual_seed(0)
    mlm = root / "mlm"
    BertForMaskedLM(AutoConfig.from_pretrained(str(tiny_backbone))).save_pretrained(mlm)
    AutoTokenizer.from_pretrained(str(tiny_backbone)).save_pretrained(mlm)
    pet = {"template": "{text} . it was {mask} .", "verbalizer": {"neg": "bad", "pos": "good"},
           "train": {**TRAIN, "max_steps": 2}}  # fmt: skip
    out["pet"] = (
        _fewshot(root, "pet", method="pet", model={"name_or_path": str(mlm)}, data=data, pet=pet),
        "pet",
        cls_dev,
    )
    ner = {"train": str(ner_data["train"]), "dev": ner_dev, "max_length": 64}
    for method in ("nnshot", "proto"):
        run = _fewshot(root, method, task="ner", method=method, shots=1, model=model, data=ner)
        out[method] = (run, "neighbours", ner_dev)
    run_zeroshot({"output": str(root / "zs"), "model": model, "labels": "neg,pos", "data": {"file": cls_dev}})
    out["zeroshot"] = (root / "zs", "zeroshot", cls_dev)
    lora = _cls_run(root, tiny_backbone, cls_data, method="lora")
    export_run(str(lora), str(root / "merged"), merge=True)
    out["export --merge"] = (root / "merged", "pretrained", cls_dev)
    export_run(str(ner_run.path), str(root / "plain"))  # a copy of model/, with the task beside it
    (root / "plain" / "finetune.yaml").unlink()  # read the task from the head alone
    out["plain save_pretrained"] = (root / "plain", "pretrained", ner_dev)
    _hub_cache(root / "hub", root / "merged", "rawtune-test/tiny-cls")
    out["hub id"] = ("rawtune-test/tiny-cls", "pretrained", cls_dev)
    return out


CASES = [
    "finetune ner", "finetune classification", "continual", "onnx export", "compress int8", "setfit", "pet", "nnshot",
    "proto", "zeroshot", "export --merge", "plain save_pretrained", "hub id",
]  # fmt: skip


def _labels(records: list[dict]) -> list:
    return [r.get("tags", r.get("label")) for r in records]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_every_run_kind_predicts_evaluates_and_serves(kinds, case, root, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient
    from seqeval.metrics import f1_score

    from rawtune.data.readers.labeled import read_text_table, read_token_file
    from rawtune.serve.app import create_app
    from rawtune.serve.predictor import Predictor

    run, kind, data = kinds[case]
    if case == "hub id":
        import huggingface_hub.constants

        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(root / "hub"))
    assert run_kind(run).name == kind
    out = tmp_path / "pred.jsonl"
    assert main(["predict", str(run), "--input", data, "--output", str(out), "--no-progress"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert main(["evaluate", str(run), "--data", data, "--output", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval" / "dev" / "report.json").read_text())["metrics"]
    if data.endswith(".conll"):  # the tags predict wrote are the ones evaluate scored
        gold = [ex.tags for ex in read_token_file(data).examples]
        assert f1_score(gold, _labels(records), mode="strict") == pytest.approx(metrics["f1"])
    else:
        gold = [ex.label for ex in read_text_table(data).examples]
        right = sum(g == p for g, p in zip(gold, _labels(records)))
        assert right / len(gold) == pytest.approx(metrics["accuracy"])
    pred = Predictor.from_run(run, device="cpu")
    item = records[0].get("text", records[0].get("tokens"))
    with TestClient(create_app(pred)) as client:
        body = {"texts": [item]} if isinstance(item, str) else {"tokens": [item]}
        reply = client.post("/v1/models/default/predict", json=body)
    assert reply.status_code == 200, reply.text
    assert _labels(reply.json()["predictions"]) == _labels(pred.predict([item]))
