"""Atomic checkpoints: torn ones are never selected, corrupted ones are detected by name."""

from __future__ import annotations

import contextlib
import json

from rawtune.runs.checkpoint import latest_verified, prune_checkpoints, save_checkpoint, verify_checkpoint


def _payload(d):
    (d / "model.safetensors").write_bytes(b"x" * 1000)


def _save(root, step):
    return save_checkpoint(root, step, _payload, {"step": step})


def test_complete_checkpoint_verifies(tmp_path):
    ck = _save(tmp_path, 5)
    assert verify_checkpoint(ck) is None
    assert json.loads((ck / "trainer_state.json").read_text())["step"] == 5
    assert not list(tmp_path.glob(".tmp-*"))


def test_torn_checkpoint_is_never_selected(tmp_path):
    _save(tmp_path, 5)
    torn = tmp_path / "step-10"  # as if killed before the checksum manifest was written
    torn.mkdir()
    _payload(torn)
    (tmp_path / ".tmp-step-15-123").mkdir()  # killed mid-write
    warnings = []
    assert latest_verified(tmp_path, warnings.append) == tmp_path / "step-5"
    assert "step-10" in warnings[0] and "checksums.json" in warnings[0]


def test_flipped_byte_is_detected_naming_the_file(tmp_path):
    ck = _save(tmp_path, 5)
    f = ck / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[500] ^= 0x01
    f.write_bytes(bytes(data))
    problem = verify_checkpoint(ck)
    assert problem is not None and str(f) in problem and "sha256" in problem
    warnings = []
    assert latest_verified(tmp_path, warnings.append) is None
    assert str(f) in warnings[0]


def test_any_flipped_bit_in_the_seal_itself_is_detected(tmp_path):
    """Every byte of checksums.json, one bit flipped at a time: the checkpoint never verifies (a
    flip may still parse, e.g. in the step number or a size, and must not pass as intact)."""
    ck = _save(tmp_path, 5)
    seal = ck / "checksums.json"
    raw = seal.read_bytes()
    passed = []
    for i in range(len(raw)):
        flipped = bytearray(raw)
        flipped[i] ^= 0x01
        seal.write_bytes(bytes(flipped))
        if verify_checkpoint(ck) is None:
            passed.append((i, raw[max(0, i - 10) : i + 10]))
    seal.write_bytes(raw)
    assert verify_checkpoint(ck) is None
    assert passed == []


def test_failed_write_leaves_nothing(tmp_path):
    def boom(d):
        (d / "half").write_bytes(b"1")
        raise RuntimeError("disk full")

    with contextlib.suppress(RuntimeError):
        save_checkpoint(tmp_path, 3, boom, {"step": 3})
    assert list(tmp_path.iterdir()) == []


def test_prune_keeps_last_k_and_best(tmp_path):
    for s in (2, 4, 6, 8, 10):
        _save(tmp_path, s)
    prune_checkpoints(tmp_path, keep_last=2, keep_steps={4})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-10", "step-4", "step-8"]
