"""`rawtune continual` end to end on the tiny backbone: the head grows for a new type, replay and
the forgetting report are recorded, the memory is kept for the next version, and --if-new is a
no-op on data already used."""

from __future__ import annotations

import json


def test_new_type_grows_head_and_reports_forgetting(tmp_path, phase1_run, phases, continual_config):
    from transformers import AutoModelForTokenClassification

    from rawtune.stages.continual import run_continual

    run = run_continual(continual_config(phase1_run, tmp_path / "v2", phases, max_forgetting=100.0)).run
    metrics = json.loads(run.metrics_json.read_text())
    manifest = run.manifest()
    assert manifest["stage"] == "continual" and manifest["status"] == "complete"
    assert manifest["labels_added"] == ["B-ORG", "I-ORG"]
    old = json.loads((phase1_run / "manifest.json").read_text())["labels"]
    assert manifest["labels"][: len(old)] == old
    model = AutoModelForTokenClassification.from_pretrained(run.model_dir)
    assert model.config.num_labels == len(old) + 2
    f = metrics["forgetting"]
    assert [s["kind"] for s in f["sets"]] == ["old", "new"]
    assert f["sets"][0]["file"] == str(phases["dev1"])
    old_set = f["sets"][0]
    assert old_set["change_points"] == 100 * (old_set["after"] - old_set["before"])
    assert f["forgetting_points"] == max(0.0, -old_set["change_points"])
    assert metrics["gate"]["passed"] is True
    assert manifest["replay"]["examples"] > 0 and manifest["continual"]["previous"] == str(
        phase1_run.resolve()
    )
    assert (run.path / "replay" / "memory.conll").is_file()
    assert (run.path / "eval" / "forgetting.json").is_file()


def test_if_new_is_a_no_op_on_data_the_lineage_used(tmp_path, phase1_run, phases, continual_config):
    from rawtune.stages.continual import run_continual

    v2 = run_continual(continual_config(phase1_run, tmp_path / "v2", phases)).run
    again = continual_config(v2.path, tmp_path / "v3", phases, if_new=True)
    assert run_continual(again) is None
    assert not (tmp_path / "v3").exists()
    # a copy of the same bytes under another name is still not new
    copy = tmp_path / "copy.conll"
    copy.write_bytes(phases["train2"].read_bytes())
    again["data"]["new"] = str(copy)
    assert run_continual(again) is None
    # different data is new: v3 replays from v2's memory and scores both earlier dev sets
    again["data"]["new"] = str(phases["train1"])
    v3 = run_continual(again).run
    m = v3.manifest()
    assert m["replay"]["pool"].endswith("v2/replay/memory.conll")
    assert m["continual"]["dev_sets"] == [str(phases["dev1"]), str(phases["dev2"]), str(phases["dev2"])]
    assert m["labels"] == v2.manifest()["labels"] and m["labels_added"] == []


def test_penalties_hold_the_weights_near_the_previous_ones(tmp_path, phase1_run, phases, continual_config):
    from safetensors.torch import load_file

    from rawtune.stages.continual import run_continual

    # every run keeps its last step: with dev selection the tiny runs tie at dev F1 0 and keep
    # step 3, where the penalty (zero at the start) has barely acted and the comparison is noise
    def config(name: str, **sections):
        cfg = continual_config(phase1_run, tmp_path / name, phases, **sections)
        cfg["train"].update(eval_steps=6, save_steps=6)
        return cfg

    run = run_continual(config("v2", regularize={"method": "ewc", "strength": 1e4})).run
    assert run.manifest()["status"] == "complete"
    assert run.manifest()["regularize"] == {"method": "ewc", "strength": 1e4, "fisher_examples": 64}
    naive = run_continual(config("naive")).run

    def moved(r, keep=lambda k: k.startswith("bert.")) -> float:  # squared distance from the previous version
        a, b = (
            load_file(phase1_run / "model" / "model.safetensors"),
            load_file(r.model_dir / "model.safetensors"),
        )
        return sum(float(((b[k][: a[k].shape[0]] - a[k]) ** 2).sum()) for k in a if keep(k) and k in b)

    held = run_continual(config("l2sp", regularize={"method": "l2sp", "strength": 1e4})).run

    # the penalty holds the weights near the old ones: every weight equally (L2-SP), or those the
    # old task's Fisher marks (EWC): most of its mass sits on the head (measured: a third on the
    # classifier, the rest on the embeddings), so the old labels' head rows stay put while the
    # encoder, which the old task's loss hardly depends on, moves as freely as without a penalty
    def head(k: str) -> bool:
        return k.startswith("classifier.")

    assert moved(held) < 0.5 * moved(naive)
    assert moved(run, head) < 0.5 * moved(naive, head), (moved(run, head), moved(naive, head))


def test_gate_fails_when_new_data_contradicts_the_old(tmp_path, cls_phase1, flipped_train):
    from rawtune.cli.main import main

    v1 = json.loads((cls_phase1 / "metrics.json").read_text())
    assert v1["dev"]["accuracy"] >= 0.9  # phase 1 learned the task
    bad = flipped_train
    argv = ["continual", str(cls_phase1), "--new-data", str(bad), "--output", str(tmp_path / "v2")]
    argv += ["--replay", "0", "--max-forgetting", "1.0", "--train.epochs=15", "--train.lr=3e-3"]
    argv += ["--train.threads=1", "--train.progress=false", "--train.batch_size=8"]
    assert main(argv) == 4
    m = json.loads((tmp_path / "v2" / "metrics.json").read_text())
    assert m["gate"] == {
        "max_forgetting": 1.0,
        "forgetting": m["forgetting"]["forgetting_points"],
        "passed": False,
    }
    assert m["forgetting"]["forgetting_points"] > 50  # it learned the flipped labels
    assert m["forgetting"]["sets"][0]["before"] == v1["dev"]["accuracy"]


def test_registered_versions_chain_and_promote_only_through_the_gate(
    tmp_path, monkeypatch, phase1_run, phases, continual_config
):
    from rawtune.stages.continual import run_continual
    from rawtune.versions import ModelStore

    monkeypatch.setenv("RAWTUNE_REGISTRY", str(tmp_path / "reg.db"))
    reg = ModelStore()
    v1 = reg.register("ner", str(phase1_run))
    reg.promote("ner", v1.version)
    res = run_continual(
        continual_config(phase1_run, tmp_path / "v2", phases, name="ner", promote=True, max_forgetting=100.0)
    )
    assert res.version.version == 2 and res.version.parent == 1 and res.version.status == "production"
    assert reg.get("ner", 1).status == "archived"
    assert res.version.data["new_data_sha256"] == res.run.manifest()["continual"]["new_data_sha256"]
    assert res.version.gate["passed"] is True
    # a name the registry does not know yet starts at version 1, with no parent
    fresh = run_continual(continual_config(phase1_run, tmp_path / "other", phases, name="fresh"))
    assert (fresh.version.version, fresh.version.parent, fresh.version.status) == (1, None, "candidate")
    # the registry alone remembers the data: a run from v1 again with --if-new does nothing
    again = continual_config(phase1_run, tmp_path / "v2b", phases, name="ner", if_new=True)
    assert run_continual(again) is None


def test_missing_earlier_data_is_refused_only_when_replay_needs_it(
    tmp_path, tiny_backbone, phases, continual_config
):
    import shutil

    import pytest

    from rawtune.errors import DataError
    from rawtune.stages.continual import run_continual
    from rawtune.stages.finetune import run_finetune

    train = tmp_path / "gone.conll"
    shutil.copy(phases["train1"], train)
    v1 = run_finetune(
        {
            "output": str(tmp_path / "v1"),
            "model": {"name_or_path": str(tiny_backbone)},
            "task": {"name": "ner"},
            "data": {"train": str(train), "dev": str(phases["dev1"]), "max_length": 64, "stride": 16},
            "train": {"max_steps": 2, "threads": 1, "progress": False, "eval_steps": 2, "save_steps": 2},
        }
    ).path
    train.unlink()
    with pytest.raises(DataError, match="replay needs the previous run's training data"):
        run_continual(continual_config(v1, tmp_path / "v2", phases))
    assert not (tmp_path / "v2").exists()
    run = run_continual(continual_config(v1, tmp_path / "v2b", phases, replay={"ratio": 0.0})).run
    assert run.manifest()["replay"]["examples"] == 0


def test_new_raw_text_adapts_the_encoder_first(tmp_path, phase1_run, phases, ner_data, continual_config):
    from safetensors.torch import load_file

    from rawtune.cli.main import main

    argv = ["continual", str(phase1_run), "--new-data", str(phases["train2"]), "--dev", str(phases["dev2"])]
    argv += ["--output", str(tmp_path / "v2"), "--new-raw", str(ner_data["raw"]), "--mlm.steps=3"]
    argv += ["--mlm.seq_len=32", "--train.max_steps=2", "--train.threads=1", "--train.progress=false"]
    argv += ["--train.eval_steps=2", "--train.save_steps=2", "--mlm.lr=1e-2"]
    assert main(argv) == 0
    mlm = tmp_path / "v2-mlm"
    manifest = json.loads((tmp_path / "v2" / "manifest.json").read_text())
    assert manifest["mlm_run"] == str(mlm.resolve()) and manifest["status"] == "complete"
    assert json.loads((mlm / "manifest.json").read_text())["stage"] == "pretrain"
    # the MLM run adapted the previous model to the new text (its LM head warmed up first, the task
    # model having none; the best by validation loss kept) and the task model's encoder is its
    mlm_metrics = json.loads((mlm / "metrics.json").read_text())
    assert mlm_metrics["after"]["loss"] < mlm_metrics["before"]["loss"]
    prev = load_file(phase1_run / "model" / "model.safetensors")
    adapted = load_file(mlm / "model" / "model.safetensors")
    assert "cls.predictions.transform.dense.weight" in adapted and "classifier.weight" in prev
    # the 'before' scores are the previous model's: the same as a run without the MLM step
    from rawtune.stages.continual import run_continual

    plain = run_continual(
        continual_config(phase1_run, tmp_path / "plain", phases, train={"max_steps": 2})
    ).run

    def before(run_dir) -> list:
        return [s["before"] for s in json.loads((run_dir / "metrics.json").read_text())["forgetting"]["sets"]]

    assert before(plain.path) == before(tmp_path / "v2")


def test_pseudo_label_replay_when_the_earlier_training_data_is_gone(
    tmp_path, tiny_backbone, phases, ner_data, continual_config
):
    """--old-raw: the previous model labels earlier raw text and replay draws from those examples,
    so a model whose training file is gone can still be re-fine-tuned with replay."""
    import shutil

    from rawtune.cli.main import main
    from rawtune.continual.replay import memory_file
    from rawtune.data.readers.conll import read_token_file
    from rawtune.serve.predictor import Predictor
    from rawtune.stages.finetune import run_finetune

    train = tmp_path / "gone.conll"
    shutil.copy(phases["train1"], train)
    v1 = run_finetune(
        {
            "output": str(tmp_path / "v1"),
            "seed": 3,
            "model": {"name_or_path": str(tiny_backbone)},
            "task": {"name": "ner"},
            "data": {"train": str(train), "dev": str(phases["dev1"]), "max_length": 64, "stride": 16},
            "train": {"max_steps": 30, "batch_size": 8, "lr": 1e-2, "threads": 1, "progress": False},
        }
    ).path
    sentences = read_token_file(str(train)).examples[:12]
    raw = tmp_path / "earlier.txt"
    raw.write_text("".join(" ".join(ex.tokens) + "\n" for ex in sentences))
    train.unlink()
    expected = Predictor.from_run(v1).predict([" ".join(ex.tokens) for ex in sentences])

    cfg = continual_config(v1, tmp_path / "v2", phases, replay={"ratio": 1.0, "mask_outside": False})
    flags = [f"--{k}={v}" for k, v in cfg["train"].items()]
    code = main(
        ["continual", str(v1), f"--new-data={phases['train2']}", f"--dev={phases['dev2']}",
         f"--old-raw={raw}", f"--output={tmp_path / 'v2'}", "--seed=1",
         *[f.replace("--", "--train.", 1) for f in flags]]
    )  # fmt: skip
    assert code == 0
    manifest = json.loads((tmp_path / "v2" / "manifest.json").read_text())
    assert manifest["pseudo_labels"] == {"files": [str(raw)], "examples": 12}
    assert manifest["replay"]["pool"] == str(raw) and manifest["replay"]["examples"] == 12
    # the memory the next version replays holds the earlier texts with the previous model's tags
    # (old examples first, in file order; the new data has these sentences too, with ORG tagged)
    memory = read_token_file(str(memory_file(tmp_path / "v2"))).examples[:12]
    assert [(ex.tokens, ex.tags) for ex in memory] == [(r["tokens"], r["tags"]) for r in expected]
    assert any(t != "O" for r in expected for t in r["tags"])  # the previous model did tag entities
