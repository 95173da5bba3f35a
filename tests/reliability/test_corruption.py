"""A5-A7: corruption. Every kind of damage (one flipped bit at the start, middle or end, a file cut in
half or to nothing, a file deleted, bytes appended) to every file of a checkpoint is caught: resume
takes the next older checkpoint that verifies and never the damaged one, naming the file. The same
damage to any file of a finished run is found by `rawtune doctor`. The runs damaged are copies of the
suite's reference runs."""

from __future__ import annotations

import json
import shutil

import pytest

from harness import cli, records, same_weights
from rawtune.runs.checkpoint import latest_verified, list_checkpoints
from rawtune.stages.doctor import diagnose

pytestmark = pytest.mark.slow  # reliability runs: make test-all (CI)


def _flip(at: float):
    def damage(f):
        raw = bytearray(f.read_bytes())
        raw[min(int(len(raw) * at), len(raw) - 1)] ^= 0x01  # one bit: the quietest bit rot
        f.write_bytes(bytes(raw))

    return damage


def _cut(keep: float):
    def damage(f):
        f.write_bytes(f.read_bytes()[: int(f.stat().st_size * keep)])

    return damage


DAMAGES = {
    "flip-first-byte": _flip(0.0),
    "flip-middle-byte": _flip(0.5),
    "flip-last-byte": _flip(1.0),
    "cut-in-half": _cut(0.5),
    "cut-to-nothing": _cut(0.0),
    "deleted": lambda f: f.unlink(),
    "bytes-appended": lambda f: f.write_bytes(f.read_bytes() + b"\0garbage"),
}
CHECKPOINT_FILES = (
    "model.safetensors",
    "optimizer.pt",
    "scheduler.pt",
    "trainer_state.json",
    "checksums.json",
)


@pytest.fixture(scope="module")
def mlm_checkpoints(reference):
    root = reference("mlm") / "checkpoints"
    assert [s for s, _ in list_checkpoints(root)][-2:] == [6, 9]
    return root


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("name", CHECKPOINT_FILES)
def test_a_damaged_checkpoint_is_never_selected(mlm_checkpoints, tmp_path, name, damage, figures):
    root = tmp_path / "checkpoints"
    shutil.copytree(mlm_checkpoints, root)
    DAMAGES[damage](root / "step-9" / name)
    warnings: list[str] = []
    chosen = latest_verified(root, warnings.append)
    figures("corruption", target=f"checkpoint/{name}", damage=damage, detected=chosen.name != "step-9")
    figures("torn", created=1, selected=chosen.name == "step-9")
    assert chosen.name == "step-6"
    assert len(warnings) == 1 and warnings[0].startswith("skipping checkpoint step-9: ")
    assert name in warnings[0] or "checksums.json" in warnings[0]


def test_resume_after_the_newest_checkpoint_rots_is_still_bit_identical(
    stage_flags, reference, tmp_path, figures
):
    """A process killed at step 11, then a bit flips in its newest checkpoint: resume from step 6."""
    run = tmp_path / "run"
    killed = cli(*stage_flags["ner"], f"--output={run}", fault="step#11=kill")
    assert killed.returncode == -9
    _flip(0.5)(run / "checkpoints" / "step-9" / "model.safetensors")
    done = cli(*stage_flags["ner"], f"--output={run}", "--resume")
    ref = reference("ner")
    exact = done.returncode == 0 and records(run) == records(ref) and not same_weights(ref, run)
    figures(
        "kill",
        case="ner-step-11-kill+bitflip-step-9",
        signal="kill",
        bit_exact=exact,
        torn_created=1,
        torn_selected=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "skipping checkpoint step-9" in done.stderr and "model.safetensors" in done.stderr
    assert json.loads((run / "metrics.json").read_text())["train"]["resumed_from"] == 6
    assert records(run) == records(ref) and same_weights(ref, run) == []


def _recorded(stage: str, reference) -> list[str]:
    run = reference(stage)
    files = sorted(json.loads((run / "manifest.json").read_text())["files"])
    ckpt = [f"checkpoints/step-9/{n}" for n in CHECKPOINT_FILES]
    return [*files, "manifest.json", *ckpt]


def _doctor_cases():
    # the files are known once a reference run exists; the table is its file kinds x damages
    return [
        (stage, damage)
        for stage in ("mlm", "ner")
        for damage in ("flip-middle-byte", "cut-in-half", "deleted")
    ]


@pytest.mark.parametrize(("stage", "damage"), _doctor_cases())
def test_doctor_finds_every_damaged_file_of_a_finished_run(reference, tmp_path, stage, damage, figures):
    misses = []
    files = _recorded(stage, reference)
    for rel in files:
        run = tmp_path / rel.replace("/", "_")
        shutil.copytree(reference(stage), run)
        DAMAGES[damage](run / rel)
        d = diagnose(run)
        problems = [f.message for f in d.findings if f.level == "problem"]
        named = any(rel in p or rel.rsplit("/", 1)[-1] in p for p in problems)
        figures("corruption", target=f"{stage}-run/{rel}", damage=damage, detected=not d.healthy and named)
        if d.healthy or not named:
            misses.append(f"{rel}: {problems}")
        shutil.rmtree(run)
    assert misses == [], misses
