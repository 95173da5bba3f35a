"""Verify a run directory without trusting it (`rawtune doctor RUN`). Each check is one finding
(ok, warning or problem):

- the run: config.yaml and manifest.json readable, the manifest matches its own checksum and is byte
  for byte as written, its status (complete, or interrupted / failed);
- files: every file the manifest recorded at the end is there with its size and sha256, and files
  written since are listed;
- the config and the data (checks given by `stages.doctor`, which knows the stages' schemas and
  inputs): config.yaml still validates and has its recorded fingerprint, the input files are still
  there with the content fingerprint the run recorded;
- the weights: every floating-point tensor in the model and checkpoint safetensors files is finite;
- checkpoints: each verifies against its checksums (a torn or corrupted one is named).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rawtune.errors import RunDirError
from rawtune.runs.atomic import json_text
from rawtune.runs.rundir import COMPLETE, DIGEST_KEY, RunDir, manifest_digest

log = logging.getLogger("rawtune")
_AFTER_FINISH = ("report.html",)  # written after the manifest's file list, on purpose


@dataclass
class Finding:
    check: str
    level: str  # "ok" | "warning" | "problem"
    message: str


@dataclass
class Diagnosis:
    run: str
    findings: list[Finding] = field(default_factory=list)

    def add(self, check: str, level: str, message: str) -> None:
        self.findings.append(Finding(check, level, message))

    @property
    def healthy(self) -> bool:
        return not any(f.level == "problem" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "healthy": self.healthy, "findings": [asdict(f) for f in self.findings]}


Inputs = Callable[[Diagnosis, RunDir, dict[str, Any]], None]  # more checks, given the manifest


def diagnose(path: str | Path, inputs: Inputs | None = None) -> Diagnosis:
    """Every check of the run directory at `path`; `inputs` adds the checks of its config and input
    data, which need the stages' schemas and tasks (`stages.doctor` gives them)."""
    run = RunDir(Path(path))
    if not run.manifest_path.is_file() and not run.config_path.is_file():
        raise RunDirError(f"{run.path} is not a rawtune run directory (no config.yaml/manifest.json)")
    d = Diagnosis(str(run.path))
    if not run.manifest_path.is_file():
        d.add("run", "problem", "manifest.json is missing (the run's record of its files and status)")
        return d
    manifest, problem = read_manifest(run.manifest_path.read_bytes())
    if problem is not None:
        d.add("run", "problem", problem)
    if manifest is None:
        return d
    if not run.config_path.is_file():
        d.add("config", "problem", "config.yaml is missing")
    _status(d, manifest)
    _files(d, run, manifest)
    if inputs is not None:
        inputs(d, run, manifest)
    _weights(d, run)
    _checkpoints(d, run)
    return d


def read_manifest(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(the manifest, or None when it cannot be read; the problem with it, or None)."""
    try:
        manifest = json.loads(raw)
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        return None, f"manifest.json is not valid JSON ({e})"
    recorded = manifest.get(DIGEST_KEY)
    if recorded is None:
        return manifest, (
            f"manifest.json has no {DIGEST_KEY} of itself (damaged, edited by hand, or written by a "
            "rawtune from before 2026-12-03; rerun to get a checkable manifest)"
        )
    if recorded != manifest_digest(manifest):
        return manifest, "manifest.json does not match its own sha256 (changed or corrupted)"
    if json_text(manifest).encode("utf-8") != raw:
        # The digest is over the parsed content, and some flipped bits leave that unchanged: the
        # 17th digit of a float (time.time() often needs 17) can move to a decimal that parses to
        # the same double. Compared byte for byte with how rawtune writes JSON, no bit can hide.
        return manifest, "manifest.json is not byte for byte as written (changed or corrupted)"
    return manifest, None


def _status(d: Diagnosis, manifest: dict[str, Any]) -> None:
    status = manifest.get("status")
    if status == COMPLETE:
        d.add("run", "ok", f"{manifest.get('stage', 'run')} run, complete")
    elif status == "running":
        d.add("run", "problem", "not complete: interrupted (or still running); --resume continues it")
    else:
        d.add("run", "problem", f"status {status!r}: {manifest.get('error', 'no error recorded')}")


def _files(d: Diagnosis, run: RunDir, manifest: dict[str, Any]) -> None:
    from rawtune.runs.atomic import sha256_file

    files = manifest.get("files")
    if files is None:
        d.add("files", "warning", "the manifest records no files (the run never finished)")
        return
    if not isinstance(files, dict) or not all(
        isinstance(m, dict) and isinstance(m.get("bytes"), int) and isinstance(m.get("sha256"), str)
        for m in files.values()
    ):
        d.add("files", "problem", 'manifest.json: "files" is damaged (not {path: {"sha256", "bytes"}})')
        return
    bad = []
    root = run.path.resolve()
    for rel, meta in sorted(files.items()):
        f = run.path / rel
        if not f.resolve().is_relative_to(root):  # a crafted "../x" or "/dev/zero": never opened
            bad.append(f"{rel} names a file outside the run (a crafted or damaged manifest)")
        elif not f.is_file():
            bad.append(f"{rel} is missing")
        elif f.stat().st_size != meta["bytes"] or sha256_file(f) != meta["sha256"]:
            bad.append(f"{rel} does not match its sha256 in manifest.json (changed or corrupted)")
    for b in bad:
        d.add("files", "problem", b)
    if not bad:
        d.add("files", "ok", f"{len(files)} files match their sha256")
    skip = ("checkpoints/", "logs/", "manifest.json", *_AFTER_FINISH)
    extra = [
        p.relative_to(run.path).as_posix()
        for p in sorted(run.path.rglob("*"))
        if p.is_file() and not p.relative_to(run.path).as_posix().startswith(skip)
    ]
    extra = [x for x in extra if x not in files]
    if extra:
        shown = ", ".join(extra[:5]) + (f" (+{len(extra) - 5} more)" if len(extra) > 5 else "")
        d.add("files", "warning", f"written after the run finished: {shown}")


def _weights(d: Diagnosis, run: RunDir) -> None:
    import torch
    from safetensors import safe_open

    files = sorted(p for p in run.path.rglob("*.safetensors") if ".tmp-" not in p.as_posix())
    bad = []
    for f in files:
        try:
            with safe_open(str(f), framework="pt") as st:
                for name in st.keys():  # noqa: SIM118 (safe_open has no __iter__)
                    t = st.get_tensor(name)
                    if t.is_floating_point() and not torch.isfinite(t).all():
                        bad.append(f"{f.relative_to(run.path)}: {name} has non-finite values")
        except Exception as e:  # a header or tensor that does not parse is a finding, not a crash
            bad.append(
                f"{f.relative_to(run.path)} is not a readable safetensors file ({type(e).__name__}: {e})"
            )
    for b in bad:
        d.add("weights", "problem", b)
    if files and not bad:
        d.add("weights", "ok", f"{len(files)} safetensors files, every tensor finite")


def _checkpoints(d: Diagnosis, run: RunDir) -> None:
    from rawtune.runs.checkpoint import list_checkpoints, verify_checkpoint

    ckpts = list_checkpoints(run.checkpoints_dir)
    bad = [(p, why) for _, p in ckpts if (why := verify_checkpoint(p)) is not None]
    for p, why in bad:
        d.add("checkpoints", "problem", f"{p.name}: {why}")
    if ckpts and not bad:
        d.add("checkpoints", "ok", f"{len(ckpts)} checkpoints verify")
