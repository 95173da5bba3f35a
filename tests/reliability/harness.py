"""Running rawtune as a real subprocess (the CLI, as a user runs it) and comparing two runs bit for bit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

# the records of metrics.jsonl that are a function of the seed (not timings)
DETERMINISTIC = (
    "step",
    "kind",
    "split",
    "epoch",
    "loss",
    "lr",
    "grad_norm",
    "accuracy",
    "perplexity",
    "f1",
    "precision",
    "recall",
    "tokens_seen",
)


def cli(*args: str, fault: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m rawtune.cli.main ARGS` in a child that inherits this environment (PYTHONPATH
    included), with RAWTUNE_FAULT armed when `fault` is given."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("RAWTUNE_FAULT", None)
    if fault:
        env["RAWTUNE_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "rawtune.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_ctrl_c_as_at_a_terminal,
    )


def _ctrl_c_as_at_a_terminal() -> None:
    """The `int` cases are Ctrl-C at a terminal. A suite started in the background (`cmd &` in a
    script) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt: the child
    would finish its run and the case would fail for a reason that is not rawtune's."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def records(run: Path) -> list[dict]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [{k: r[k] for k in DETERMINISTIC if k in r} for r in rows]


def weight_files(run: Path) -> list[Path]:
    """The run's final safetensors files (model/ and adapter/), relative to the run."""
    return sorted(
        p.relative_to(run) for p in run.glob("*/*.safetensors") if p.parts[-2] in ("model", "adapter")
    )


def same_weights(a: Path, b: Path) -> list[str]:
    """The differences between two runs' final weights ([] when bit-identical)."""
    fa, fb = weight_files(a), weight_files(b)
    if fa != fb:
        return [f"weight files differ: {fa} vs {fb}"]
    out = []
    for rel in fa:
        ta, tb = load_file(a / rel), load_file(b / rel)
        if ta.keys() != tb.keys():
            out.append(f"{rel}: tensor names differ")
            continue
        out += [f"{rel}: {k} differs" for k in ta if not torch.equal(ta[k], tb[k])]
    return out


def traceback_in(text: str) -> bool:
    return "Traceback (most recent call last)" in text
