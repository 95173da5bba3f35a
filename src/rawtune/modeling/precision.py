"""`precision: auto`: bf16 where this machine runs it faster, else fp32 — found out by measuring, once
per machine, never assumed.

On a CPU with native BF16 (AVX-512 BF16 / AMX) bf16 autocast runs a transformer layer 1.4-2x faster
than fp32; on one without, the same autocast is emulated and several times slower. A GPU that supports
bf16 always gains. So `auto` on a CPU times a few training steps of one encoder layer both ways (about
two seconds), picks bf16 only when it is clearly faster, and caches the answer per machine (CPU model and
flags, thread count, torch version) in the rawtune cache, where every later run reads it.
`RAWTUNE_PRECISION=fp32|bf16` decides instead (the test suite pins fp32 so its numbers do not depend on
the machine)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

log = logging.getLogger("rawtune")
ENV = "RAWTUNE_PRECISION"
MARGIN = 1.1  # bf16 must be at least this much faster (a tie is not worth the rounding)


@dataclass(frozen=True)
class Choice:
    precision: str  # "bf16" or "fp32" (fp16 only when asked for by name)
    reason: str  # how it was decided: "asked", "env", "cuda", "measured", "cached"
    fp32_ms: float | None = None
    bf16_ms: float | None = None

    def describe(self) -> str:
        timing = (
            f" (one layer's step: fp32 {self.fp32_ms:.1f} ms, bf16 {self.bf16_ms:.1f} ms)"
            if self.bf16_ms
            else ""
        )
        return f"precision {self.precision}: {self.reason}{timing}"


def resolve(precision: str, device: str = "cpu") -> Choice:
    """The precision to run with: `precision` itself unless it is "auto"."""
    if precision != "auto":
        return Choice(precision, "asked")
    forced = os.environ.get(ENV)
    if forced:
        if forced not in ("fp32", "bf16"):
            from rawtune.errors import ConfigError, ConfigIssue

            raise ConfigError([ConfigIssue(ENV, f"must be fp32 or bf16, not {forced!r}", file="environment")])
        return Choice(forced, f"{ENV}={forced}")
    if device.startswith("cuda"):
        import torch

        bf16 = torch.cuda.is_bf16_supported()
        return Choice("bf16" if bf16 else "fp32", "this GPU supports bf16" if bf16 else "this GPU lacks bf16")
    return _cpu_choice()


def _cpu_choice() -> Choice:
    path = _cache_file()
    key = machine_key()
    try:
        cached = json.loads(path.read_text()).get(key)
    except (OSError, ValueError):
        cached = None
    if isinstance(cached, dict) and cached.get("precision") in ("fp32", "bf16"):
        return Choice(
            cached["precision"],
            "measured earlier on this machine",
            cached.get("fp32_ms"),
            cached.get("bf16_ms"),
        )
    fp32, bf16, steady = probe()
    choice = Choice("bf16" if bf16 * MARGIN < fp32 else "fp32", "measured on this machine", fp32, bf16)
    if steady:
        _store(path, key, choice)
    else:  # another process took the cores mid-probe: good enough for this run, not for every later one
        choice = replace(choice, reason="measured on this machine while it was busy (not cached)")
    return choice


def probe(steps: int = 5) -> tuple[float, float, bool]:
    """Milliseconds of a training step (forward, backward) of one MiniLM-sized encoder layer (hidden
    384) on 16 x 64 tokens, in fp32 and under bf16 autocast, measured alternately after a warm-up, and
    whether the machine was steady meanwhile. Each is the fastest of its steps: other processes only
    ever add time, so the minimum is the machine's own speed; a step more than 1.5x its fastest, or
    a load average above the core count, means they were there, and the answer is not kept."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(384, 6, 1536, dropout=0.0, batch_first=True)
    x = torch.randn(16, 64, 384)
    times: dict[bool, list[float]] = {False: [], True: []}
    for i in range(2 * (steps + 1)):
        bf16 = i % 2 == 1
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = layer(x)
        out.float().sum().backward()
        layer.zero_grad(set_to_none=True)
        if i >= 2:  # the first of each is the warm-up
            times[bf16].append((time.perf_counter() - t0) * 1000)
    steady = all(_median(t) <= 1.5 * min(t) for t in times.values()) and not _busy()
    return min(times[False]), min(times[True]), steady


def _busy() -> bool:
    """More runnable processes than cores over the last minute: a probe then times the other
    processes as much as the kernels (uniform contention slows every step alike, so the spread alone
    does not show it)."""
    try:
        return os.getloadavg()[0] > (os.cpu_count() or 1)
    except OSError:  # no load average on this platform
        return False


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def machine_key() -> str:
    """What decides the answer: the CPU (model and flags), the threads torch uses, torch's version."""
    import torch

    cpu = platform.processor() or platform.machine()
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu in ("", platform.machine()):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = line.split(":", 1)[1]
                break
    except OSError:
        pass
    raw = f"{cpu}|{hashlib.sha256(flags.encode()).hexdigest()[:12]}|{torch.get_num_threads()}|{torch.__version__}"
    return raw


def _cache_file() -> Path:
    root = os.environ.get("RAWTUNE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "rawtune")
    return Path(root) / "precision.json"


def _store(path: Path, key: str, choice: Choice) -> None:
    """Best effort: a read-only cache only means measuring again next time."""
    from rawtune.runs.atomic import write_json

    try:
        known = json.loads(path.read_text()) if path.is_file() else {}
        if not isinstance(known, dict):
            known = {}
        known[key] = {k: v for k, v in asdict(choice).items() if k != "reason"}
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, known)
    except (OSError, ValueError) as e:
        log.debug("precision cache %s not written: %s", path, e)
