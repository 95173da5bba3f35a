"""The self-training loop on tiny models: each round a fine-tuning run with lineage (teacher ->
pseudo-labels with their statistics -> student), the best round by dev as the result, resume after
an injected failure (finished rounds and verified pseudo-labels reused), and every bad input a
one-line error that leaves nothing looking finished."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rawtune.errors import ConfigError, DataError
from rawtune.runs import faults
from rawtune.runs.rundir import COMPLETE, FAILED, RunDir
from rawtune.stages.selftrain import run_selftrain


def manifest(path: Path) -> dict:
    return RunDir(path).manifest()


@pytest.mark.slow
def test_rounds_have_lineage_and_the_best_round_by_dev_is_the_result(st_config) -> None:
    result = run_selftrain(st_config("ner", rounds=2))
    out, s = result.output, result.summary
    assert json.loads((out / "selftrain.json").read_text()) == s
    assert manifest(out)["status"] == COMPLETE and manifest(out)["stage"] == "selftrain"
    assert [r["round"] for r in s["rounds"]] == [0, 1, 2] and s["metric"] == "f1"
    for r in s["rounds"]:
        m = manifest(out / r["run"])
        assert m["status"] == COMPLETE and m["stage"] == "finetune"
        dev = json.loads((out / r["run"] / "metrics.json").read_text())["dev"]
        assert r["dev"]["f1"] == dev["f1"]
    assert manifest(out / "round-0")["selftrain"] == {"round": 0, "role": "teacher"}
    assert [r["run"] for r in s["rounds"]] == ["round-0", "round-1-gold", "round-2-gold"]
    for k in (1, 2):
        student, teacher = out / f"round-{k}", out / ("round-0" if k == 1 else f"round-{k - 1}-gold")
        m = manifest(student)
        labels = out / "pseudo" / f"round-{k}.conll"
        stats = json.loads((out / "pseudo" / f"round-{k}.json").read_text())
        assert m["parent"] == str(teacher.resolve()) and m["selftrain"]["teacher"] == str(teacher.resolve())
        assert m["selftrain"]["pseudo_labels"] == {"file": str(labels.resolve()), "sha256": stats["sha256"]}
        assert (
            stats["teacher"] == str(teacher.resolve())
            and stats["kept"] == s["rounds"][k]["pseudo_labels"]["kept"]
        )
        assert 0 < stats["kept"] <= stats["seen"] and set(stats["types"]) == {"LOC", "MISC", "ORG", "PER"}
        cfg = yaml.safe_load((student / "config.yaml").read_text())  # the student's config reproduces it
        assert cfg["data"]["extra_train"] == [str(labels)] and cfg["data"]["extra_weight"] == 0.5
        assert (
            cfg["model"]["dropout"] == 0.2
            and cfg["model"]["name_or_path"] == st_config()["model"]["name_or_path"]
        )
        assert m["data"]["train"]["examples"] == 64 + stats["kept"]
        # then the gold data alone, from the student, with the teacher's budget: the round's model
        gold = manifest(out / f"round-{k}-gold")
        assert gold["parent"] == str(student.resolve()) and gold["selftrain"]["from"] == str(
            student.resolve()
        )
        assert gold["data"]["train"]["examples"] == 64 and "extra" not in str(gold["data"])
        gold_cfg = yaml.safe_load((out / f"round-{k}-gold" / "config.yaml").read_text())
        assert gold_cfg["model"]["name_or_path"] == str(student) and gold_cfg["data"]["extra_train"] == []
        assert gold_cfg["train"]["max_steps"] == st_config()["train"]["max_steps"]
    best = max(s["rounds"], key=lambda r: (r["dev"]["f1"], -r["round"]))
    assert s["best"] == {"round": best["round"], "run": best["run"], "f1": best["dev"]["f1"]}
    assert result.best == out / best["run"]


@pytest.mark.slow
def test_a_failed_round_resumes_and_what_was_finished_is_reused(st_config, monkeypatch) -> None:
    cfg = st_config("ner", rounds=2)
    monkeypatch.setenv(faults.ENV, "selftrain.round#2=enospc")  # after round 1, before round 2
    monkeypatch.setattr(faults, "_hits", {})
    with pytest.raises(OSError):
        run_selftrain(cfg)
    out = Path(cfg["output"])
    assert manifest(out)["status"] == FAILED and not (out / "selftrain.json").exists()
    kept = {p: p.stat().st_mtime_ns for p in (out / "round-0" / "manifest.json", out / "round-1" / "manifest.json",
                                              out / "round-1-gold" / "manifest.json",
                                              out / "pseudo" / "round-1.conll", out / "pseudo" / "round-1.json")}  # fmt: skip
    monkeypatch.delenv(faults.ENV)
    with pytest.raises(Exception, match="not empty; pass --resume"):
        run_selftrain(cfg)
    result = run_selftrain({**cfg, "train": {**cfg["train"], "progress": True}}, resume=True)
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # finished rounds and pseudo-labels reused
    assert manifest(out)["status"] == COMPLETE and [r["round"] for r in result.summary["rounds"]] == [0, 1, 2]
    assert run_selftrain(cfg, resume=True).summary == result.summary  # complete: nothing to do
    changed = {**cfg, "select": {"threshold": 0.2}}
    with pytest.raises(Exception, match=r"config differs.*select\.threshold"):
        run_selftrain(changed, resume=True)


@pytest.mark.slow
def test_pseudo_labels_without_statistics_and_an_interrupted_student_are_redone(
    st_config, monkeypatch
) -> None:
    cfg = st_config("ner", rounds=1)
    monkeypatch.setenv(faults.ENV, "selftrain.labels=enospc")
    monkeypatch.setattr(faults, "_hits", {})
    with pytest.raises(OSError):
        run_selftrain(cfg)
    out = Path(cfg["output"])
    assert (out / "pseudo" / "round-1.conll").is_file() and not (out / "pseudo" / "round-1.json").exists()
    monkeypatch.setenv(
        faults.ENV, "step#20=enospc"
    )  # round 1's student (round 0 is reused), checkpointed at 15
    monkeypatch.setattr(faults, "_hits", {})
    with pytest.raises(OSError):
        run_selftrain(cfg, resume=True)
    assert manifest(out / "round-1")["status"] == FAILED
    monkeypatch.delenv(faults.ENV)
    result = run_selftrain(cfg, resume=True)
    assert (
        manifest(out / "round-1")["status"] == COMPLETE
        and result.summary["rounds"][1]["run"] == "round-1-gold"
    )
    log = (out / "round-1" / "logs" / "train.log").read_text()
    assert "resum" in log.lower()


def test_classification_keeps_confident_balanced_texts(st_config) -> None:
    result = run_selftrain(st_config("classification", steps=40))  # a teacher that learned both classes
    stats = json.loads((result.output / "pseudo" / "round-1.json").read_text())
    kept = [stats["classes"][c]["kept"] for c in ("neg", "pos")]
    assert stats["kept"] == sum(kept) > 0 and stats["balance"] and abs(kept[0] - kept[1]) <= 1
    header = (result.output / "pseudo" / "round-1.csv").read_text().splitlines()[0]
    assert header == "text,label" and result.summary["metric"] == "macro_f1"


def test_a_given_teacher_with_a_threshold_nothing_passes(st_config, ner_run) -> None:
    cfg = st_config("ner", teacher=str(ner_run.path), select={"threshold": 0.999})
    with pytest.raises(DataError, match=r"no pseudo-labels: select\.threshold 0\.999 is above") as e:
        run_selftrain(cfg)
    assert "\n" not in str(e.value)
    out = Path(cfg["output"])
    assert manifest(out)["status"] == FAILED and "threshold" in manifest(out)["error"]
    assert not (out / "selftrain.json").exists() and not (out / "pseudo").exists()
    assert not (out / "round-0").exists()  # the given teacher is round 0, left where it is


def test_a_teacher_whose_labels_differ_is_refused_before_anything_is_written(
    st_config, ner_run, ner_data, tmp_path
) -> None:
    no_misc = tmp_path / "no_misc.conll"
    no_misc.write_text(ner_data["train"].read_text().replace("B-MISC", "O").replace("I-MISC", "O"))
    cfg = st_config("ner", teacher=str(ner_run.path), data={"train": str(no_misc)})
    with pytest.raises(DataError) as e:
        run_selftrain(cfg)
    msg = str(e.value)
    assert msg.startswith(f"{ner_run.path}: the teacher's 9 labels differ from the 7 of {no_misc}")
    assert "only the teacher has ['B-MISC', 'I-MISC']" in msg and "\n" not in msg
    assert not Path(cfg["output"]).exists()
    cls_teacher = st_config("classification", teacher=str(ner_run.path))
    with pytest.raises(DataError, match="the teacher is a ner run, not classification"):
        run_selftrain(cls_teacher)


def test_raw_text_empty_after_filtering_is_refused_before_anything_is_written(st_config, ner_data) -> None:
    cfg = st_config("ner", unlabeled=[str(ner_data["raw"])])  # the training sentences themselves
    with pytest.raises(
        DataError, match=r"train_raw\.txt: no unlabeled text left after filtering: .*64 in the labeled"
    ):
        run_selftrain(cfg)
    assert not Path(cfg["output"]).exists()


def test_unsupported_tasks_and_missing_keys_are_config_errors(st_config) -> None:
    from rawtune.config.loader import load_config

    with pytest.raises(ConfigError, match=r"task: .*supports ner and single-label classification, not qa"):
        load_config("selftrain", base=st_config("ner", task={"name": "qa"}))
    with pytest.raises(ConfigError) as e:
        load_config("selftrain", base={"output": "x"})
    assert all(k in str(e.value) for k in ("data.train", "data.dev", "unlabeled", "model.name_or_path"))
    load_config(
        "selftrain", base={**st_config("ner", teacher="some/run"), "model": {}}
    )  # the teacher's backbone


def test_without_the_gold_finish_the_mixed_student_is_the_round(st_config) -> None:
    result = run_selftrain(st_config("ner", student={"finish_on_gold": False}))
    assert [r["run"] for r in result.summary["rounds"]][1:] == ["round-1"]
    assert not (result.output / "round-1-gold").exists()


def test_the_teacher_is_scored_and_labels_as_evaluate_and_predict_run_it(
    st_config, ner_run, ner_data, tmp_path, monkeypatch
) -> None:
    """Round 0 (a given teacher) is compared with the students by the yardstick `evaluate` uses and
    labels the raw text as `predict` would: in bf16 where that is faster (forced here, so the check
    holds on any machine), not in the fp32 the weights were saved in."""
    import rawtune.artifacts.run as artifacts_run
    from rawtune.stages.evaluate import evaluate_run

    monkeypatch.setattr(artifacts_run, "auto_dtype", lambda model, path: "bf16")
    loads, load_run = [], artifacts_run.load_run
    monkeypatch.setattr(
        artifacts_run, "load_run", lambda path, **kw: loads.append((str(path), kw)) or load_run(path, **kw)
    )
    result = run_selftrain(st_config("ner", teacher=str(ner_run.path), rounds=1))
    # the teacher was loaded to score it and to label the raw text, each time as predict loads it
    teacher_loads = [kw for path, kw in loads if path == str(ner_run.path) and kw.get("device") != "cpu"]
    assert len(teacher_loads) == 2 and all(kw.get("dtype") == "auto" for kw in teacher_loads)
    round0 = result.summary["rounds"][0]
    assert round0["given"] and round0["run"] == str(ner_run.path)
    evaluated, _ = evaluate_run(str(ner_run.path), str(ner_data["dev"]), out_root=tmp_path / "eval")
    assert round0["dev"]["loss"] == pytest.approx(evaluated["loss"], rel=1e-6)
    fp32, _ = evaluate_run(str(ner_run.path), str(ner_data["dev"]), out_root=tmp_path / "fp32", dtype=None)
    assert fp32["loss"] != pytest.approx(evaluated["loss"], rel=1e-6)  # the check can tell them apart
