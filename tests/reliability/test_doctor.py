"""`rawtune doctor`: a finished run is healthy; each kind of damage is found and named (a flipped
byte, a missing file, an edited config, changed input data, non-finite weights, a torn checkpoint,
an interrupted run), with exit status 1; a directory that is not a run is exit 2."""

from __future__ import annotations

import json
import shutil

import pytest

from rawtune.cli.main import main
from rawtune.runs.atomic import write_json
from rawtune.runs.doctor import read_manifest
from rawtune.runs.rundir import RunDir
from rawtune.stages.doctor import diagnose

pytestmark = pytest.mark.slow  # reliability runs: make test-all (CI)


@pytest.fixture
def run_copy(tmp_path, ner_config, ner_data):
    """A finished tiny NER run on its own copy of the data (tests damage both)."""
    from rawtune.stages.finetune import run_finetune

    data = {k: tmp_path / f"{k}.conll" for k in ("train", "dev")}
    for k, p in data.items():
        shutil.copy(ner_data[k], p)
    cfg = ner_config(
        tmp_path / "run",
        train={"save_steps": 3, "eval_steps": 3, "restore_best": False, "keep_checkpoints": 2},
    )
    cfg["data"].update(train=str(data["train"]), dev=str(data["dev"]))
    return run_finetune(cfg).path, data


def _problems(path) -> list[str]:
    return [f"{f.check}: {f.message}" for f in diagnose(path).findings if f.level == "problem"]


def test_a_finished_run_is_healthy(run_copy, capsys):
    run, _ = run_copy
    d = diagnose(run)
    assert d.healthy, d.to_dict()
    assert {f.check for f in d.findings if f.level == "ok"} >= {"run", "files", "config", "data", "weights"}
    assert main(["doctor", str(run)]) == 0
    assert "healthy" in capsys.readouterr().out


def test_a_flipped_byte_and_a_missing_file_are_named(run_copy, capsys):
    run, _ = run_copy
    w = run / "model" / "model.safetensors"
    raw = bytearray(w.read_bytes())
    raw[-1] ^= 0xFF  # in the tensor data: still parses, no longer matches its hash
    w.write_bytes(bytes(raw))
    (run / "eval" / "dev" / "report.json").unlink()
    found = _problems(run)
    assert (
        "files: model/model.safetensors does not match its sha256 in manifest.json (changed or corrupted)"
        in found
    )
    assert "files: eval/dev/report.json is missing" in found
    assert main(["doctor", str(run), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out[0]["healthy"] is False


def test_an_edited_config_and_changed_data_are_found(run_copy):
    run, data = run_copy
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text.replace("seed: ", "seed: 1", 1))
    with open(data["train"], "a") as f:
        f.write("\nExtra O\nwords O\n")
    found = _problems(run)
    assert any(p.startswith("config: config.yaml differs") for p in found), found
    assert "data: the input data changed since the run (its content fingerprint differs)" in found


def test_non_finite_weights_are_found_even_with_matching_hashes(run_copy):
    from safetensors.torch import load_file, save_file

    from rawtune.runs.atomic import sha256_file

    run, _ = run_copy
    w = run / "model" / "model.safetensors"
    tensors = load_file(w)
    name = next(k for k, t in tensors.items() if t.is_floating_point())
    tensors[name][0] = float("nan")
    save_file(tensors, str(w), metadata={"format": "pt"})
    m = json.loads((run / "manifest.json").read_text())  # a careful forger updates the manifest too
    m["files"]["model/model.safetensors"] = {"sha256": sha256_file(w), "bytes": w.stat().st_size}
    RunDir(run).write_manifest(m)  # ... and its checksum of itself
    assert _problems(run) == [f"weights: model/model.safetensors: {name} has non-finite values"]


@pytest.mark.parametrize("where", ['"started": ', '"sha256": "', '"config": "'])
def test_one_flipped_bit_in_the_manifest_itself_is_found(run_copy, where):
    """The manifest's own fields (a timestamp, a recorded file hash, the config fingerprint) are
    guarded by its checksum of itself: one flipped bit there is named as damage to manifest.json,
    never read as a different healthy run."""
    run, _ = run_copy
    f = run / "manifest.json"
    raw = bytearray(f.read_bytes())
    at = raw.index(where.encode()) + len(where) + 3  # inside the value, past its first characters
    raw[at] ^= 0x01
    f.write_bytes(bytes(raw))
    json.loads(raw)  # still valid JSON: only the checksum can tell
    assert "run: manifest.json does not match its own sha256 (changed or corrupted)" in _problems(run)


def test_every_one_bit_flip_anywhere_in_the_manifest_is_found(run_copy):
    """Exhaustive: every bit of every byte of a real finished run's manifest. The start time is
    one whose 17th digit can flip to a decimal that parses to the same double
    (1764786223.8444219 -> ...218): the content checksum alone missed that in CI."""
    run, _ = run_copy
    rd = RunDir(run)
    rd.write_manifest({**rd.manifest(), "started": 1764786223.8444219})
    raw = rd.manifest_path.read_bytes()
    assert read_manifest(raw)[1] is None
    silent = []
    for i in range(len(raw)):
        for bit in range(8):
            flipped = bytearray(raw)
            flipped[i] ^= 1 << bit
            if read_manifest(bytes(flipped))[1] is None:
                silent.append((i, bit, raw[max(0, i - 12) : i + 4]))
    assert silent == []
    assert float(b"1764786223.8444218") == 1764786223.8444219  # the case that needs the byte check


def test_a_manifest_without_its_checksum_is_a_problem(run_copy):
    run, _ = run_copy
    m = json.loads((run / "manifest.json").read_text())
    del m["manifest_sha256"]
    write_json(run / "manifest.json", m)
    assert _problems(run) == [
        "run: manifest.json has no manifest_sha256 of itself (damaged, edited by hand, or written by a "
        "rawtune from before 2026-12-03; rerun to get a checkable manifest)"
    ]


def test_a_torn_checkpoint_and_an_interrupted_run(run_copy):
    run, _ = run_copy
    ckpts = sorted((run / "checkpoints").iterdir())
    assert ckpts, "the fixture keeps checkpoints"
    (ckpts[-1] / "checksums.json").unlink()
    RunDir(run).update_manifest(status="running")
    found = _problems(run)
    assert any(p.startswith(f"checkpoints: {ckpts[-1].name}: ") and "missing" in p for p in found), found
    assert any(p.startswith("run: not complete") for p in found)


def test_not_a_run_directory(tmp_path, capsys):
    assert main(["doctor", str(tmp_path)]) == 2
    assert "not a rawtune run directory" in capsys.readouterr().err
