"""precision=auto: named precisions pass through, the environment decides when set, and otherwise the
measured choice is made once and read back from the cache."""

from __future__ import annotations

import json

import pytest

from rawtune.errors import ConfigError
from rawtune.modeling import precision


def test_named_precision_is_kept(monkeypatch):
    monkeypatch.setenv(precision.ENV, "bf16")
    assert precision.resolve("fp32").precision == "fp32"


def test_environment_decides_auto(monkeypatch):
    monkeypatch.setenv(precision.ENV, "bf16")
    assert precision.resolve("auto").precision == "bf16"
    monkeypatch.setenv(precision.ENV, "fp8")
    with pytest.raises(ConfigError, match="fp32 or bf16"):
        precision.resolve("auto")


@pytest.mark.parametrize(
    ("fp32", "bf16", "want"), [(10.0, 5.0, "bf16"), (10.0, 9.5, "fp32"), (10.0, 30.0, "fp32")]
)
def test_measured_once_then_cached(monkeypatch, tmp_path, fp32, bf16, want):
    monkeypatch.delenv(precision.ENV, raising=False)
    monkeypatch.setenv("RAWTUNE_CACHE", str(tmp_path))
    calls = []
    monkeypatch.setattr(precision, "probe", lambda: calls.append(1) or (fp32, bf16, True))
    first = precision.resolve("auto")
    assert (
        first.precision == want and first.fp32_ms == fp32 and "measured on this machine" in first.describe()
    )
    again = precision.resolve("auto")
    assert again.precision == want and "earlier" in again.reason and len(calls) == 1
    stored = json.loads((tmp_path / "precision.json").read_text())
    assert stored[precision.machine_key()]["precision"] == want


def test_a_probe_on_a_busy_machine_decides_this_run_only(monkeypatch, tmp_path):
    monkeypatch.delenv(precision.ENV, raising=False)
    monkeypatch.setenv("RAWTUNE_CACHE", str(tmp_path))
    answers = iter([(10.0, 5.0, False), (10.0, 5.0, True)])
    monkeypatch.setattr(precision, "probe", lambda: next(answers))
    busy = precision.resolve("auto")
    assert busy.precision == "bf16" and "busy" in busy.reason and not (tmp_path / "precision.json").exists()
    assert precision.resolve("auto").reason == "measured on this machine"  # measured again, then kept
    assert (tmp_path / "precision.json").is_file()


def test_probe_times_both(monkeypatch):
    fp32, bf16, steady = precision.probe(steps=1)
    assert fp32 > 0 and bf16 > 0 and isinstance(steady, bool)


def test_a_loaded_machine_is_not_steady(monkeypatch):
    monkeypatch.setattr(precision.os, "getloadavg", lambda: (64.0, 64.0, 64.0))
    assert precision.probe(steps=1)[2] is False
