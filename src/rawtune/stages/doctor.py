"""`rawtune doctor RUN`: verify a run directory without trusting it. Each check is one finding
(ok, warning or problem):

- the run: config.yaml and manifest.json readable, the manifest matches its own checksum and is byte
  for byte as written, its status (complete, or interrupted / failed);
- files: every file the manifest recorded at the end is there with its size and sha256, and files
  written since are listed;
- the config: config.yaml still validates against its stage's schema, and still has the fingerprint
  the run recorded (an edit after the run shows);
- the data: each input file named by the config still exists and, for fine-tuning and pretraining,
  still has the content fingerprint the run recorded;
- the weights: every floating-point tensor in the model and checkpoint safetensors files is finite;
- checkpoints: each verifies against its checksums (a torn or corrupted one is named).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rawtune.errors import RawtuneError, RunDirError
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


def diagnose(path: str | Path) -> Diagnosis:
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
    cfg = _config(d, run, manifest)
    if cfg is not None:
        try:
            _data(d, run, manifest, cfg)
        except RawtuneError as e:  # a damaged tokenizer or unreadable data: a finding, not a crash
            d.add("data", "warning", f"the input data cannot be re-checked: {e}")
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


def _config(d: Diagnosis, run: RunDir, manifest: dict[str, Any]) -> Any:
    import yaml

    from rawtune.config.base import STAGES
    from rawtune.config.identity import config_fingerprint
    from rawtune.config.loader import load_config
    from rawtune.errors import ConfigError

    if not run.config_path.is_file():
        return None  # reported with the run
    try:
        loaded = yaml.safe_load(run.config_path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise yaml.YAMLError("not a mapping of sections")
        stage = loaded.get("stage")
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        d.add("config", "problem", f"{run.config_path} is not valid YAML ({e})")
        return None
    if stage not in STAGES:
        d.add("config", "warning", f"stage {stage!r} has no schema to check config.yaml against")
        return None
    try:
        cfg = load_config(stage, file=run.config_path)
    except ConfigError as e:
        d.add("config", "problem", str(e))
        return None
    recorded = (manifest.get("fingerprints") or {}).get("config")
    if recorded is None:
        d.add("config", "ok", "config.yaml validates (no fingerprint recorded to compare)")
    elif config_fingerprint(cfg) != recorded:
        d.add(
            "config",
            "problem",
            "config.yaml differs from the config the run was trained with (edited after?)",
        )
    else:
        d.add("config", "ok", "config.yaml validates and has the recorded fingerprint")
    return cfg


def _data(d: Diagnosis, run: RunDir, manifest: dict[str, Any], cfg: Any) -> None:
    recorded = (manifest.get("fingerprints") or {}).get("data")
    stage = getattr(cfg, "stage", None)
    if stage == "finetune":
        missing = [p for p in (cfg.data.train, cfg.data.dev, cfg.data.test) if p and not Path(p).is_file()]
        if missing:
            d.add(
                "data",
                "warning",
                f"input files gone: {', '.join(missing)} (the run cannot be re-checked or replayed)",
            )
            return
        from rawtune.data.splits import data_fingerprint, read_splits
        from rawtune.tasks.base import get_task

        splits, _ = read_splits(get_task(cfg), cfg)
        now = data_fingerprint(splits)
    elif stage == "pretrain":
        if not (run.model_dir / "tokenizer_config.json").is_file():
            d.add("data", "warning", "no model/ tokenizer to fingerprint the corpus with")
            return
        from rawtune.data.corpus import corpus_fingerprint
        from rawtune.errors import DataError
        from rawtune.modeling.backbone import load_tokenizer

        try:
            now = corpus_fingerprint(cfg.data, load_tokenizer(str(run.model_dir)))
        except DataError as e:
            d.add("data", "warning", f"corpus not readable now: {e}")
            return
    else:
        d.add("data", "ok", f"{stage} run: its inputs are not fingerprinted")
        return
    if recorded is None:
        d.add("data", "warning", "the run recorded no data fingerprint")
    elif now != recorded:
        d.add("data", "problem", "the input data changed since the run (its content fingerprint differs)")
    else:
        d.add("data", "ok", "the input data is what the run was trained on")


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
