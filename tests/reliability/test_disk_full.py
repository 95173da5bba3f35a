"""A4: a really full disk (a 256 KiB tmpfs; needs root, skipped elsewhere — the RAWTUNE_FAULT
"enospc" kill/resume cases run everywhere). torch.save and safetensors do not raise OSError on a full
disk, so before this a full disk mid-checkpoint was a traceback ("unexpected pos 576 vs 534"); now it
is a StorageError naming the checkpoint, and nothing half-written is left."""

from __future__ import annotations

import subprocess

import pytest
import torch

from rawtune.errors import StorageError
from rawtune.runs.atomic import write_text
from rawtune.runs.checkpoint import list_checkpoints, save_checkpoint

pytestmark = pytest.mark.slow  # reliability runs: make test-all (CI)


@pytest.fixture
def full_disk(tmp_path):
    mnt = tmp_path / "full"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)  # lazy: torch may hold a file open


def _torch(d):
    torch.save({"w": torch.zeros(200_000)}, d / "optimizer.pt")


def _safetensors(d):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(200_000)}, str(d / "model.safetensors"))


@pytest.mark.parametrize("payload", [_torch, _safetensors], ids=["torch.save", "safetensors"])
def test_a_full_disk_mid_checkpoint_is_a_storage_error_and_leaves_nothing(full_disk, payload, figures):
    root = full_disk / "checkpoints"
    with pytest.raises(StorageError) as e:
        save_checkpoint(root, 3, payload, {"step": 3})
    named = str(root / "step-3") in str(e.value) and "no space left" in str(e.value).lower()
    figures(
        "bad_input", category="disk full", case=payload.__name__, rejected=True, actionable=named, crash=False
    )
    assert named, str(e.value)
    assert list_checkpoints(root) == [] and not list(root.iterdir())  # the temp dir is gone


def test_a_full_disk_leaves_no_temp_file(full_disk):
    with pytest.raises(OSError):
        write_text(full_disk / "metrics.json", "x" * 400_000)
    assert list(full_disk.iterdir()) == []
