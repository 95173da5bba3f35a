"""`rawtune models ...` end to end through main(), and models:/ references for serve and predict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rawtune.cli.main import main
from rawtune.cli.serve_cmd import model_table
from rawtune.errors import ModelStoreError
from rawtune.versions import resolve_model_ref
from rawtune.versions.refs import named_runs


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["models", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def finished_run(make_run, name: str, f1: float, data: str, gate: dict | None = None) -> Path:
    metrics = {
        "task": "classification",
        "dev": {"accuracy": f1 + 0.01, "f1": f1, "n": 200},
        "test": {"f1": 0},
    }
    if gate is not None:
        metrics["forgetting"] = {"old_dev_drop": 1.5, "gate": gate}
    manifest = {
        "status": "complete",
        "task": "classification",
        "fingerprints": {"data": data, "tokenizer": "t1"},
    }
    return make_run(name, metrics=metrics, manifest=manifest)


def test_register_list_show_promote_rollback_history(capsys, make_run, registry_path):
    r1 = finished_run(make_run, "r1", 0.81, "d1")
    r2 = finished_run(make_run, "r2", 0.84, "d2", gate={"passed": True})
    assert run_cli(capsys, "register", "sst2", str(r1), "--note", "first") == (
        0, f"registered sst2 version 1 ({r1})\n", "",
    )  # fmt: skip
    code, out, _ = run_cli(capsys, "register", "sst2", str(r2), "--parent", "1", "--json")
    v2 = json.loads(out)
    assert code == 0 and v2["version"] == 2 and v2["parent"] == 1 and v2["task"] == "classification"
    assert v2["metrics"] == {
        "dev": {"accuracy": 0.85, "f1": 0.84, "n": 200},
        "forgetting": {"old_dev_drop": 1.5, "gate": {"passed": True}},
    }
    assert v2["gate"] == {"passed": True} and v2["data"] == {"data": "d2", "tokenizer": "t1"}

    code, out, _ = run_cli(capsys, "promote", "sst2", "--version", "1")
    assert (code, out) == (0, "sst2 version 1 is production\n")
    assert run_cli(capsys, "promote", "sst2")[1] == "sst2 version 2 is production; version 1 archived\n"

    code, out, _ = run_cli(capsys, "list", "sst2")
    head, first, second = out.splitlines()
    assert head.split() == ["NAME", "VERSION", "STATUS", "TASK", "CREATED", "METRICS", "GATE", "RUN"]
    assert first.split()[:4] == ["sst2", "1", "archived", "classification"]
    assert "accuracy=0.82 f1=0.81 n=200" in first and first.endswith(str(r1))
    assert second.split()[:3] == ["sst2", "2", "production"] and " passed " in second

    code, out, _ = run_cli(capsys, "list", "--json")
    assert [(v["name"], v["version"], v["status"]) for v in json.loads(out)] == [
        ("sst2", 1, "archived"), ("sst2", 2, "production"),
    ]  # fmt: skip
    code, out, _ = run_cli(capsys, "show", "sst2", "--version", "1", "--json")
    assert json.loads(out)["note"] == "first" and json.loads(out)["run"] == str(r1)
    code, out, _ = run_cli(capsys, "show", "sst2")
    assert "status   production" in out and '"f1": 0.84' in out

    assert (
        run_cli(capsys, "rollback", "sst2")[1] == "sst2 version 1 is production again; version 2 archived\n"
    )
    code, out, _ = run_cli(capsys, "history", "sst2")
    lines = out.splitlines()
    assert [ln.split()[1:3] for ln in lines] == [
        ["VERSION", "ACTION"], ["1", "register"], ["2", "register"], ["1", "promote"], ["2", "promote"],
        ["1", "rollback"],
    ]  # fmt: skip
    assert lines[4].endswith("replaced version 1") and lines[5].endswith("rolled back from version 2")
    code, out, _ = run_cli(capsys, "history", "sst2", "--json")
    assert [e["action"] for e in json.loads(out)][-1] == "rollback"


def test_a_failed_gate_is_refused_with_one_line_then_forced(capsys, make_run):
    run = finished_run(
        make_run, "r", 0.7, "d", gate={"passed": False, "failed": ["old dev F1 fell 4.2 points"]}
    )
    run_cli(capsys, "register", "ner", str(run))
    code, out, err = run_cli(capsys, "promote", "ner")
    assert code == 4 and out == ""
    assert err == (
        "rawtune models: error: 'ner' version 1 failed its gate (old dev F1 fell 4.2 points); "
        "promote it anyway with --force (force=True)\n"
    )
    assert run_cli(capsys, "promote", "ner", "--force")[:2] == (0, "ner version 1 is production\n")
    code, out, _ = run_cli(capsys, "list")
    assert " failed " in out.splitlines()[1]


def test_registry_option_before_or_after_the_action(capsys, make_run, tmp_path, registry_path):
    run = make_run("r")
    elsewhere = tmp_path / "elsewhere.db"
    assert run_cli(capsys, "--registry", str(elsewhere), "register", "a", str(run))[0] == 0
    assert run_cli(capsys, "register", "b", str(run), "--registry", str(elsewhere))[0] == 0
    assert json.loads(run_cli(capsys, "list", "--json", "--registry", str(elsewhere))[1])[1]["name"] == "b"
    assert run_cli(capsys, "list")[1] == f"no models in {registry_path}\n"  # $RAWTUNE_REGISTRY untouched


def test_cli_errors_are_one_line(capsys, make_run, tmp_path):
    running = make_run("running", manifest={"status": "running"})
    code, _, err = run_cli(capsys, "register", "m", str(running))
    assert (
        code == 2
        and err
        == f"rawtune models: error: {running} is not a finished run (manifest status 'running'); register it once it is\n"
    )
    broken = make_run("broken")
    (broken / "metrics.json").write_text("{not json")
    code, _, err = run_cli(capsys, "register", "m", str(broken))
    assert code == 2 and err.startswith(
        f"rawtune models: error: {broken / 'metrics.json'}: cannot read it as JSON"
    )
    code, _, err = run_cli(capsys, "show", "nope")
    assert code == 2 and "no model named 'nope'" in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, "register", "bad name", str(make_run("ok")))
    assert code == 2 and "not a usable model name" in err
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"\x00garbage" * 200)
    code, _, err = run_cli(capsys, "--registry", str(corrupt), "list")
    assert (
        code == 2
        and err
        == f"rawtune models: error: {corrupt} is not a usable model registry (SQLite: file is not a database)\n"
    )
    assert run_cli(capsys, "register", "m", str(running), "--unknown")[0] == 2
    assert main(["models"]) == 2  # no action: help
    assert "register" in capsys.readouterr().out


def test_resolve_model_ref(capsys, make_run, registry_path):
    r1, r2 = make_run("r1"), make_run("r2")
    assert resolve_model_ref("runs/plain") == "runs/plain"
    with pytest.raises(ModelStoreError, match="no model registry at"):
        resolve_model_ref("models:/m")
    assert not registry_path.exists()  # a look-up never creates the registry
    run_cli(capsys, "register", "m", str(r1))
    run_cli(capsys, "register", "m", str(r2))
    with pytest.raises(ModelStoreError, match="models:/m: 'm' has no production version; promote one"):
        resolve_model_ref("models:/m")
    run_cli(capsys, "promote", "m", "--version", "1")
    assert resolve_model_ref("models:/m") == str(r1)
    assert resolve_model_ref("models:/m/2") == str(r2)
    assert resolve_model_ref("models:/m/latest") == str(r2)
    assert resolve_model_ref("models:/m", registry_path) == str(r1)
    with pytest.raises(ModelStoreError, match="'m' has no version 3"):
        resolve_model_ref("models:/m/3")
    for bad in ("models:/", "models:/m/x", "models:/m/0", "models:/m/1/2"):
        with pytest.raises(ModelStoreError, match="models:/"):
            resolve_model_ref(bad)


def test_serve_and_predict_take_model_refs(capsys, make_run, tmp_path):
    r1, r2 = make_run("finetune-1"), make_run("finetune-2")
    for run in (r1, r2):
        run_cli(capsys, "register", "sst2", str(run))
    run_cli(capsys, "promote", "sst2", "--version", "2")
    runs, named = named_runs(["plain/run", "models:/sst2"], ["old=models:/sst2/1", "x=other/run"])
    assert model_table(runs, named) == {"run": "plain/run", "sst2": str(r2), "old": str(r1), "x": "other/run"}

    code = main(["predict", "models:/sst2/7", "--input", "in.txt", "--output", str(tmp_path / "out.jsonl")])
    assert code == 2 and "'sst2' has no version 7" in capsys.readouterr().err
