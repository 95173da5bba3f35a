"""The run directory contract (DESIGN.md §4). Status lives in manifest.json: a run is finished
only when its manifest says `"status": "complete"`; metrics.json is written just before that."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rawtune._version import __version__
from rawtune.errors import CheckpointError, RawtuneError, RunDirError
from rawtune.runs.atomic import hash_tree, write_json, write_text
from rawtune.runs.faults import act, armed, fault

RUNNING, COMPLETE, FAILED = "running", "complete", "failed"
DIGEST_KEY = "manifest_sha256"
log = logging.getLogger("rawtune")


def manifest_digest(manifest: dict[str, Any]) -> str:
    """The manifest's checksum of itself: sha256 of its canonical JSON without this key. The files
    table guards every other file; this guards the table (a flipped bit in a recorded hash, a status
    or a fingerprint would otherwise read as a different, healthy run). Bit rot, not forgery: whoever
    can rewrite the file can recompute it."""
    body = {k: v for k, v in manifest.items() if k != DIGEST_KEY}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def check_writable(path: Path) -> None:
    """Fail early, before any work, if `path` cannot be created or written (nothing is created)."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise RunDirError(f"output {path}: {probe} exists and is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RunDirError(f"output {path}: directory {probe} is not writable")


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {
        "rawtune": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "argv": sys.argv,
    }
    for mod in ("torch", "transformers", "tokenizers", "accelerate", "datasets"):
        m = sys.modules.get(mod)
        if m is not None:
            env[mod] = getattr(m, "__version__", "?")
    torch = sys.modules.get("torch")
    if torch is not None:
        env["cuda"] = bool(torch.cuda.is_available())
        env["threads"] = torch.get_num_threads()
    return env


@dataclass(frozen=True)
class RunDir:
    path: Path

    # -- layout ---------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def metrics_jsonl(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def metrics_json(self) -> Path:
        return self.path / "metrics.json"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def adapter_dir(self) -> Path:
        return self.path / "adapter"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def logs_dir(self) -> Path:
        return self.path / "logs"

    @property
    def eval_dir(self) -> Path:
        return self.path / "eval"

    # -- lifecycle --------------------------------------------------------------------------
    @classmethod
    def is_run(cls, path: Path) -> bool:
        return (path / "manifest.json").is_file() and (path / "config.yaml").is_file()

    def manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return {}

    @property
    def status(self) -> str | None:
        return self.manifest().get("status")

    @classmethod
    def check_new(cls, path: Path) -> None:
        """A new run may go to `path`: writable, and absent or empty. Creates nothing."""
        check_writable(path)
        if path.exists() and any(path.iterdir()):
            raise RunDirError(
                f"output {path} exists and is not empty; pass --resume to continue that run "
                "or choose a new --output"
            )

    @classmethod
    def create(cls, path: str | Path, config_yaml: str, manifest: dict[str, Any]) -> RunDir:
        run = cls(Path(path))
        cls.check_new(run.path)
        for d in (run.path, run.logs_dir, run.checkpoints_dir):
            d.mkdir(parents=True, exist_ok=True)
        write_text(run.config_path, config_yaml)
        run.write_manifest(
            {**manifest, "status": RUNNING, "started": time.time(), "environment": environment()}
        )
        run.metrics_jsonl.touch()
        return run

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json(self.manifest_path, {**manifest, DIGEST_KEY: manifest_digest(manifest)})

    def update_manifest(self, **fields: Any) -> None:
        self.write_manifest({**self.manifest(), **fields})

    def finish(self, metrics: dict[str, Any]) -> None:
        fault("run.finish")
        write_json(self.metrics_json, metrics)
        files = hash_tree(self.path, skip=("manifest.json",))
        files = {k: v for k, v in files.items() if not k.startswith(("checkpoints/", "logs/"))}
        self.update_manifest(status=COMPLETE, finished=time.time(), files=files, environment=environment())

    def release_checkpoints(self, keep: int, best_step: int | None = None) -> None:
        """Once the run is complete (never before: --resume needs them), its checkpoints but the
        newest `keep` are deleted, and but the best evaluation's (`best_step`) where the final model
        is not the best one (train.restore_best false) and that step was checkpointed; the manifest
        records how many were kept, the MB freed and the best checkpoint kept."""
        from rawtune.runs.checkpoint import list_checkpoints, release_checkpoints

        if self.status != COMPLETE:
            return
        kept, freed = release_checkpoints(self.checkpoints_dir, keep, best_step)
        mb = round(freed / 2**20, 1)
        best = (
            f"checkpoints/step-{best_step}"
            if best_step in dict(list_checkpoints(self.checkpoints_dir))
            else None
        )
        if freed:
            log.info("freed %.1f MB of checkpoints (kept %d; train.keep_checkpoints)", mb, kept)
        if best:
            log.info(
                "kept %s, the best evaluation (RUN/model is the last step: train.restore_best false)", best
            )
        self.update_manifest(checkpoints={"kept": kept, "freed_mb": mb, "best": best})

    def fail(self, error: str) -> None:
        self.update_manifest(status=FAILED, error=error, finished=time.time())

    # -- metrics log ----------------------------------------------------------------------
    def log_metrics(self, record: dict[str, Any]) -> None:
        line = json.dumps(record) + "\n"
        with open(self.metrics_jsonl, "a", encoding="utf-8") as f:
            if armed("metrics.write"):  # a test hook (runs/faults.py): die half-way through the line
                f.write(line[: len(line) // 2])
                f.flush()
                act(self.metrics_jsonl)
            f.write(line)
            f.flush()

    def read_metrics(self) -> list[dict[str, Any]]:
        """The records of metrics.jsonl. A last line cut short (the process was killed while writing
        it: no newline, not JSON) is left out with a warning; a damaged line before it is an error."""
        if not self.metrics_jsonl.exists():
            return []
        text = self.metrics_jsonl.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines()
        out = []
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                if i == len(lines) and not text.endswith("\n"):
                    log.warning(
                        "%s:%d: a torn last line (the run was killed while writing it); left out",
                        self.metrics_jsonl,
                        i,
                    )
                    continue
                raise RunDirError(
                    f"{self.metrics_jsonl}:{i}: not a JSON record; the metrics log is damaged"
                ) from None
        return out

    def truncate_metrics(self, after_step: int) -> None:
        """On resume: drop records logged after the checkpoint, so the log reads as one unbroken run."""
        kept = [r for r in self.read_metrics() if r.get("step", 0) <= after_step]
        write_text(self.metrics_jsonl, "".join(json.dumps(r) + "\n" for r in kept))

    def replace_dir(self, name: str, src: Path) -> None:
        dst = self.path / name
        if dst.exists():
            shutil.rmtree(dst)
        os.replace(src, dst)


@contextlib.contextmanager
def records_failure(run: RunDir, main: bool = True) -> Iterator[None]:
    """Any failure while a stage works in `run` is written to its manifest ("failed" + the error)
    and re-raised; a refused --resume (CheckpointError) leaves the run as it was, and a kill -9
    leaves it "running" — never looking finished either way. `main`: this process writes the run's
    files (rank 0)."""
    try:
        yield
    except CheckpointError:
        raise
    except BaseException as e:
        if main:
            run.fail(str(e) if isinstance(e, RawtuneError) else f"{type(e).__name__}: {e}")
        raise
