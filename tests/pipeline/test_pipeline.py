"""`rawtune run pipeline.yaml`: fingerprint reuse and invalidation, resume at the failed stage, errors
that name the file and line, one runner per directory. A tiny BERT (2 layers, hidden 32), a few steps
per stage."""

from __future__ import annotations

import fcntl
import json
import shutil
from pathlib import Path

import pytest
import yaml

from rawtune.cli.main import main
from rawtune.errors import ConfigError, RunDirError
from rawtune.pipeline import Pipeline, read_state

TRAIN = {"batch_size": 8, "threads": 1, "progress": False, "log_steps": 1, "warmup_ratio": 0.0}


def pipeline_yaml(tmp_path: Path, backbone: Path, data: dict[str, Path], **edits) -> Path:
    """data (prepare) -> tapt (MLM on the training sentences) -> ner -> ner-int8 (compress), dev
    (evaluate), export -> serve; `edits` replace whole stage configs by stage name."""
    stages = [
        {
            "name": "data",
            "kind": "prepare",
            "config": {
                "files": {"train": str(data["train"]), "dev": str(data["dev"])},
                "text_of": {"train_text": "train"},
            },
        },
        {
            "name": "tapt",
            "kind": "pretrain",
            "config": {
                "data": {"corpus": ["${data.train_text}"], "seq_len": 32, "validation_split": 0.1},
                "train": {**TRAIN, "max_steps": 3, "eval_steps": 3, "save_steps": 3, "lr": 1e-3},
            },
        },
        {
            "name": "ner",
            "kind": "finetune",
            "from": "tapt",
            "config": {
                "task": {"name": "ner"},
                "data": {"train": "${data.train}", "dev": "${data.dev}", "max_length": 64, "stride": 16},
                "train": {**TRAIN, "max_steps": 6, "eval_steps": 3, "save_steps": 3, "lr": 3e-3},
            },
        },
        {
            "name": "ner-int8",
            "kind": "compress",
            "from": "ner",
            "config": {"quantize": "int8", "gate": {"max_metric_drop": 100.0}, "measure": {"repeats": 1}},
        },
        {"name": "dev", "kind": "evaluate", "from": "ner", "config": {"data": "${data.dev}"}},
        {"name": "export", "kind": "export", "from": "ner", "config": {}},
        {"name": "serve", "kind": "serve", "from": "ner-int8", "config": {"port": 0}},
    ]
    for st in stages:
        if st["name"] in edits:
            st["config"] = edits[st["name"]]
    path = tmp_path / "pipeline.yaml"
    spec = {
        "name": "tiny",
        "output": str(tmp_path / "out"),
        "model": str(backbone),
        "seed": 3,
        "stages": stages,
    }
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def actions(pipe: Pipeline) -> dict[str, str]:
    return {s.stage.name: s.action for s in pipe.plan()}


def manifest_bytes(root: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted(root.glob("*/manifest.json"))}


@pytest.fixture(scope="module")
def done(tmp_path_factory, tiny_backbone, ner_data):
    """A completed pipeline (module-wide: tests that change it work on a copy)."""
    tmp = tmp_path_factory.mktemp("pipeline")
    path = pipeline_yaml(tmp, tiny_backbone, ner_data)
    Pipeline.load(path).run(serve=False, progress=False)
    return path


def copy_of(done: Path, tmp_path: Path) -> Path:
    """The completed pipeline copied to tmp_path (output path rewritten), to change freely."""
    spec = yaml.safe_load(done.read_text())
    shutil.copytree(done.parent / "out", tmp_path / "out")
    spec["output"] = str(tmp_path / "out")
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.mark.slow
def test_a_complete_pipeline_has_lineage_and_a_second_run_skips_every_stage(done):
    root = done.parent / "out"
    state = read_state(root)
    assert state["status"] == "complete"
    assert [s["status"] for s in state["stages"]] == ["complete"] * 6 + ["pending"]
    ner = json.loads((root / "ner" / "manifest.json").read_text())
    assert ner["parent"] == str((root / "tapt").resolve())  # the manifest names its parent run
    assert ner["pipeline"]["fingerprint"] == state["stages"][2]["fingerprint"]
    int8 = json.loads((root / "ner-int8" / "manifest.json").read_text())
    assert int8["parent"] == str((root / "ner").resolve())
    assert (root / "dev" / "eval" / "dev" / "report.json").is_file()
    # the TAPT corpus is the words of the training sentences, one sentence per line
    first = (root / "data" / "data" / "train_text.txt").read_text().splitlines()[0]
    assert first.split() == [ln.split()[0] for ln in _first_sentence(root / "data" / "data" / "train")]

    before = manifest_bytes(root)
    pipe = Pipeline.load(done)
    assert set(actions(pipe).values()) == {"skip", "serve"}
    state = pipe.run(serve=False, progress=False)
    assert [s["skipped"] for s in state["stages"][:6]] == [True] * 6
    assert manifest_bytes(root) == before  # nothing was touched


def _first_sentence(folder: Path) -> list[str]:
    lines = next(folder.glob("*")).read_text().splitlines()
    lines = [ln for ln in lines if not ln.startswith("-DOCSTART-")]
    start = next(i for i, ln in enumerate(lines) if ln.strip())
    end = next(i for i in range(start, len(lines)) if not lines[i].strip())
    return lines[start:end]


def test_changing_one_option_reruns_only_that_stage_and_what_depends_on_it(done, tmp_path):
    path = copy_of(done, tmp_path)
    root = tmp_path / "out"
    before = manifest_bytes(root)
    pipe = Pipeline.load(path, {"ner.train.lr": 1e-3})
    steps = {s.stage.name: s for s in pipe.plan()}
    assert {n: s.action for n, s in steps.items()} == {
        "data": "skip",
        "tapt": "skip",
        "ner": "rerun",
        "ner-int8": "rerun",
        "dev": "rerun",
        "export": "rerun",
        "serve": "serve",
    }
    assert steps["ner"].reasons == ["train.lr: 0.003 -> 0.001"]
    assert steps["ner-int8"].reasons == ["upstream 'ner' runs"]
    pipe.run(serve=False, progress=False)
    after = manifest_bytes(root)
    assert after["data"] == before["data"] and after["tapt"] == before["tapt"]
    assert after["ner"] != before["ner"] and after["ner-int8"] != before["ner-int8"]
    cfg = yaml.safe_load((root / "ner" / "config.yaml").read_text())
    assert cfg["train"]["lr"] == 1e-3
    assert set(actions(Pipeline.load(path, {"ner.train.lr": 1e-3})).values()) == {"skip", "serve"}


def test_a_stale_run_is_not_reused_after_an_interrupted_pipeline_planned_over_it(done, tmp_path):
    """A pipeline killed in an early stage has already written the later stages' new fingerprints
    (status pending) into pipeline.json; their directories still hold runs made with the old ones."""
    path = copy_of(done, tmp_path)
    root = tmp_path / "out"
    changed = Pipeline.load(path, {"ner.train.lr": 1e-3})
    state = read_state(root)
    for entry, step in zip(state["stages"], changed.plan()):
        if step.executes:
            entry.update(fingerprint=step.fingerprint, status="pending", inputs=step.inputs)
    (root / "pipeline.json").write_text(json.dumps(state))
    assert actions(Pipeline.load(path, {"ner.train.lr": 1e-3}))["ner"] == "rerun"


def test_an_edited_input_file_reruns_the_stages_that_read_it(done, tmp_path, ner_data):
    path = copy_of(done, tmp_path)
    spec = yaml.safe_load(path.read_text())
    dev = tmp_path / "dev.conll"
    shutil.copyfile(ner_data["dev"], dev)
    spec["stages"][0]["config"]["files"]["dev"] = str(dev)
    path.write_text(yaml.safe_dump(spec))
    # the same content under another name: prepare's copy is named after the file, so it reruns
    # and so does everything downstream of it
    assert actions(Pipeline.load(path))["data"] == "rerun"
    shutil.copytree(tmp_path / "out", tmp_path / "kept")
    Pipeline.load(path).run(serve=False, progress=False)
    assert set(actions(Pipeline.load(path)).values()) == {"skip", "serve"}
    with open(dev, "a") as f:
        f.write("\nextra O\n")  # one more sentence
    steps = {s.stage.name: s for s in Pipeline.load(path).plan()}
    assert steps["data"].action == "rerun" and steps["data"].reasons == [f"input {dev} changed"]
    assert all(steps[n].action == "rerun" for n in ("ner", "ner-int8", "dev", "export"))
    # TAPT reads only the training sentences, which did not change
    assert steps["tapt"].action == "skip"


def test_a_file_added_to_the_data_stage_reruns_no_stage_that_does_not_read_it(done, tmp_path, ner_data):
    """Growing a measurement (another seed's subset, another test set) must not retrain what is
    finished: a stage depends on the prepare outputs it names, not on their siblings."""
    path = copy_of(done, tmp_path)
    spec = yaml.safe_load(path.read_text())
    extra = tmp_path / "test.conll"
    shutil.copyfile(ner_data["dev"], extra)
    spec["stages"][0]["config"]["files"]["test"] = str(extra)
    spec["stages"].insert(
        5, {"name": "test", "kind": "evaluate", "from": "ner", "config": {"data": "${data.test}"}}
    )
    path.write_text(yaml.safe_dump(spec))
    steps = {s.stage.name: s for s in Pipeline.load(path).plan()}
    assert {n: s.action for n, s in steps.items()} == {
        "data": "rerun",
        "tapt": "skip",
        "ner": "skip",
        "ner-int8": "skip",
        "dev": "skip",
        "test": "run",
        "export": "skip",
        "serve": "serve",
    }
    root = tmp_path / "out"
    before = manifest_bytes(root)
    Pipeline.load(path).run(serve=False, progress=False)
    after = manifest_bytes(root)
    assert all(after[n] == before[n] for n in ("tapt", "ner", "ner-int8", "dev", "export"))
    assert (root / "test" / "eval").is_dir()
    assert set(actions(Pipeline.load(path)).values()) == {"skip", "serve"}
    # and the file a stage does read still counts: a changed training file retrains from TAPT on
    train = tmp_path / "train.conll"
    shutil.copyfile(ner_data["train"], train)
    with open(train, "a") as f:
        f.write("\nextra O\n")
    spec["stages"][0]["config"]["files"]["train"] = str(train)
    path.write_text(yaml.safe_dump(spec))
    steps = actions(Pipeline.load(path))
    assert all(steps[n] == "rerun" for n in ("data", "tapt", "ner", "ner-int8", "dev", "test", "export"))


@pytest.mark.slow
def test_a_failed_stage_resumes_from_its_checkpoint_and_earlier_stages_are_reused(
    tmp_path, tiny_backbone, ner_data, monkeypatch
):
    import rawtune.train.fit as fit

    path = pipeline_yaml(tmp_path, tiny_backbone, ner_data)
    root = tmp_path / "out"
    real = fit.save_checkpoint
    calls = {"ner": 0}

    def dies_at_second_ner_checkpoint(ckpt_dir, step, *args, **kwargs):
        if Path(ckpt_dir).parent.name == "ner":
            calls["ner"] += 1
            if calls["ner"] == 2:
                raise RuntimeError(f"injected failure at step {step}")
        return real(ckpt_dir, step, *args, **kwargs)

    monkeypatch.setattr(fit, "save_checkpoint", dies_at_second_ner_checkpoint)
    nine = {"ner.train.max_steps": 9}  # checkpoints at steps 3 and 6 (none at the last step)
    with pytest.raises(RuntimeError, match="injected"):
        Pipeline.load(path, nine).run(serve=False, progress=False)
    state = read_state(root)
    assert state["status"] == "failed"
    assert [s["status"] for s in state["stages"][:3]] == ["complete", "complete", "failed"]
    assert "injected failure" in state["stages"][2]["error"]
    tapt = manifest_bytes(root)["tapt"]

    steps = {s.stage.name: s for s in Pipeline.load(path, nine).plan()}
    assert steps["tapt"].action == "skip" and steps["ner"].action == "resume"
    Pipeline.load(path, nine).run(serve=False, progress=False)
    m = json.loads((root / "ner" / "metrics.json").read_text())
    assert m["train"]["resumed_from"] == 3 and m["train"]["steps"] == 9
    assert manifest_bytes(root)["tapt"] == tapt
    assert read_state(root)["status"] == "complete"


def test_every_problem_is_reported_with_file_and_line_before_anything_runs(tmp_path, tiny_backbone, ner_data):
    path = pipeline_yaml(tmp_path, tiny_backbone, ner_data)
    text = path.read_text().replace("from: tapt", "from: tapd").replace("lr: 0.003", "lrr: 0.003")
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        Pipeline.load(path)
    lines = text.splitlines()
    msg = str(e.value)
    tapd = next(i for i, ln in enumerate(lines) if "from: tapd" in ln) + 1
    assert f"{path}:{tapd}: stages.2.from: 'tapd' is not an earlier stage (did you mean 'tapt'?)" in msg
    path.write_text(text.replace("from: tapd", "from: tapt"))
    with pytest.raises(ConfigError) as e:
        Pipeline.load(path).plan()
    lrr = next(i for i, ln in enumerate(lines) if "lrr: 0.003" in ln) + 1
    assert f"{path}:{lrr}: ner.train.lrr: unknown key" in str(e.value)
    # a missing data file is found while planning, not after the stages before it have trained
    path.write_text(
        text.replace("from: tapd", "from: tapt")
        .replace("lrr:", "lr:")
        .replace(str(ner_data["dev"]), "nope.conll")
    )
    assert main(["run", str(path), "--no-progress"]) == 2
    assert not (tmp_path / "out").exists()


def test_dry_run_prints_the_plan_and_runs_nothing(done, capsys):
    assert main(["run", str(done), "--dry-run", "--ner.train.lr=0.001"]) == 0
    out = capsys.readouterr().out
    assert "tapt" in out and "skip" in out and "train.lr: 0.003 -> 0.001" in out
    assert read_state(done.parent / "out")["stages"][2]["inputs"]["config"]["train.lr"] == 0.003


def test_one_runner_per_pipeline_directory(done):
    root = done.parent / "out"
    with open(root / ".pipeline.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunDirError, match="another `rawtune run`"):
            Pipeline.load(done).run(serve=False, progress=False)


def test_presets_list_init_and_validate(tmp_path, capsys):
    from rawtune.pipeline import presets
    from rawtune.pipeline.spec import validate_pipeline

    assert main(["config", "list"]) == 0
    listed = capsys.readouterr().out
    for name in ("quickstart", "dapt-tapt-ner", "lora-classification", "distil-quantize-cpu"):
        assert name in listed
        validate_pipeline(yaml.safe_load(presets.text(name)), name, {})  # every preset is valid
    assert main(["config", "init", "dapt-tapt-ner"]) == 0
    assert capsys.readouterr().out == presets.text("dapt-tapt-ner")  # comments included
    out = tmp_path / "p.yaml"
    assert main(["config", "init", "quickstart", "--output", str(out)]) == 0
    assert out.read_text() == presets.text("quickstart")
    assert main(["config", "init", "quickstart", "--output", str(out)]) == 2  # never overwrites
    assert main(["config", "init", "quikstart"]) == 2
    assert "did you mean 'quickstart'" in capsys.readouterr().err


def test_the_serve_stage_serves_what_its_from_stage_made(done, monkeypatch):
    import rawtune.serve.server as server

    served = {}
    monkeypatch.setattr(
        server, "serve", lambda table, settings: served.update(table=table, settings=settings)
    )
    Pipeline.load(done).run(serve=True, progress=False)
    root = done.parent / "out"
    assert served["table"] == {"ner-int8": str(root / "ner-int8")}
    assert served["settings"].port == 0 and served["settings"].host == "127.0.0.1"
    assert (root / "export" / "model" / "config.json").is_file()  # the export stage's model


def test_a_tokenizer_stage_feeds_pretraining_from_scratch(tmp_path, ner_data):
    spec = {
        "name": "scratch",
        "output": str(tmp_path / "out"),
        "stages": [
            {"name": "data", "kind": "prepare", "config": {"files": {"raw": str(ner_data["raw"])}}},
            {
                "name": "tok",
                "kind": "tokenizer",
                "config": {"corpus": ["${data.raw}"], "vocab_size": 200, "min_frequency": 1},
            },
            {
                "name": "lm",
                "kind": "pretrain",
                "config": {
                    "model": {"init": "scratch", "layers": 1, "hidden": 32},
                    "tokenizer": {"path": "${tok.tokenizer}"},
                    "data": {"corpus": ["${data.raw}"], "seq_len": 32},
                    "train": {**TRAIN, "max_steps": 2, "eval_steps": 2, "save_steps": 2},
                },
            },
        ],
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    Pipeline.load(path).run(serve=False, progress=False)
    root = tmp_path / "out"
    from transformers import AutoConfig, AutoTokenizer

    assert (
        len(AutoTokenizer.from_pretrained(root / "tok" / "tokenizer"))
        == AutoConfig.from_pretrained(root / "lm" / "model").vocab_size
    )
    assert set(actions(Pipeline.load(path)).values()) == {"skip"}


@pytest.mark.slow
def test_a_killed_pipeline_resumes_inside_the_stage_it_was_killed_in(tmp_path, tiny_backbone, ner_data):
    """A real SIGKILL while `ner` trains; the next `rawtune run` reuses data and tapt and continues
    `ner` from its last checkpoint."""
    import os
    import signal
    import subprocess
    import sys
    import time

    path = pipeline_yaml(tmp_path, tiny_backbone, ner_data)
    root = tmp_path / "out"
    args = [sys.executable, "-m", "rawtune", "run", str(path), "--no-serve", "--no-progress"]
    slow = ["--ner.train.max_steps=400", "--ner.train.save_steps=3", "--ner.train.eval_steps=400"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(args + slow, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def saved() -> list[int]:  # the steps of ner's checkpoints (older ones are rotated away as it trains)
        names = [p.name.removeprefix("step-") for p in (root / "ner" / "checkpoints").glob("step-*")]
        return [int(n) for n in names if n.isdigit()]

    deadline = time.time() + 120
    while not any(step >= 6 for step in saved()) and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert read_state(root)["stages"][2]["status"] == "running"  # killed: never marked finished
    tapt = manifest_bytes(root)["tapt"]
    steps = {
        s.stage.name: s
        for s in Pipeline.load(
            path, {"ner.train.max_steps": 400, "ner.train.save_steps": 3, "ner.train.eval_steps": 400}
        ).plan()
    }
    assert steps["tapt"].action == "skip" and steps["ner"].action == "resume"
    done = subprocess.run(args + slow, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    m = json.loads((root / "ner" / "metrics.json").read_text())
    assert m["train"]["resumed_from"] >= 6 and m["train"]["steps"] == 400
    assert manifest_bytes(root)["tapt"] == tapt


def test_input_files_are_hashed_once_until_they_change(tmp_path, monkeypatch):
    import os

    from rawtune.pipeline import fingerprint

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(3):
        (corpus / f"{i}.txt").write_text(f"text {i}\n")
    reads = []
    real = fingerprint.sha256_file
    monkeypatch.setattr(fingerprint, "sha256_file", lambda p: reads.append(p) or real(p))
    cache: dict[str, str] = {}
    first = fingerprint.input_files({"data.corpus": [str(corpus)]}, cache)
    assert len(reads) == 3
    assert fingerprint.input_files({"data.corpus": [str(corpus)]}, cache) == first and len(reads) == 3
    st = os.stat(corpus / "1.txt")
    (corpus / "1.txt").write_text("text 9\n")  # same size: the new mtime alone says it changed
    os.utime(corpus / "1.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert fingerprint.input_files({"data.corpus": [str(corpus)]}, cache) != first and len(reads) == 4
