"""A continual run's lineage: the manifests from the previous run back to the fine-tuning run it
all started from, the settings that lineage keeps (task, readers, model options), the earlier
evaluation sets, whether new data was already used, the fine-tuning config of the next version,
and its registration in the model store."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from rawtune.config.continual import ContinualConfig
from rawtune.errors import ConfigError, ConfigIssue, DataError
from rawtune.runs.rundir import RunDir

log = logging.getLogger("rawtune")
READER_KEYS = ("token_column", "tag_column", "scheme", "repair_tags", "text_column", "text_b_column")
READER_KEYS += ("label_column", "multi_label_sep", "max_length", "stride", "doc_context", "group_by_length")


def lineage(run: Path) -> list[dict[str, Any]]:
    """The manifests of `run` and its continual ancestors, newest first, down to the finetune run."""
    out, seen = [], set()
    while run is not None and run.resolve() not in seen:
        seen.add(run.resolve())
        if not RunDir.is_run(run):
            raise DataError("not a rawtune run directory (no config.yaml/manifest.json)", file=str(run))
        manifest = RunDir(run).manifest()
        out.append(manifest)
        prev = (manifest.get("continual") or {}).get("previous")
        run = Path(prev) if prev else None
    return out


def base_config(previous: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The finetune settings the lineage started with (task, readers, model options)."""
    if manifest.get("stage") == "continual":
        return manifest["continual"]["base"]
    cfg = yaml.safe_load((previous / "config.yaml").read_text())
    data = {k: v for k, v in cfg["data"].items() if k in READER_KEYS}
    model = {k: v for k, v in cfg["model"].items() if k != "name_or_path"}
    return {
        "task": cfg["task"],
        "data": data,
        "model": model,
        "train_file": cfg["data"]["train"],
        "dev": cfg["data"].get("dev"),
    }


def check_previous(previous: Path, manifest: dict[str, Any]) -> None:
    if manifest.get("status") != "complete":
        raise DataError(f"the previous run is {manifest.get('status')!r}, not complete", file=str(previous))
    if manifest.get("stage") not in ("finetune", "continual"):
        raise DataError(
            f"continual starts from a finetune or continual run, not {manifest.get('stage')!r}",
            file=str(previous),
        )
    if not (previous / "model" / "config.json").is_file():
        raise DataError(
            "the previous run has no full model in model/ (an adapter-only run cannot continue)",
            file=str(previous),
        )


def check_task(previous: Path, base: dict[str, Any]) -> None:
    """Refuse, before any work, a lineage whose task continual cannot continue (`Task.continual`:
    its replay memory and head growth handle the task's examples), naming the task kind."""
    from rawtune.tasks.base import TASKS

    name = base["task"].get("name")
    supported = sorted(n for n in TASKS if TASKS.get(n).continual)
    kind = base["task"].get("label_kind", "single")
    if name in supported and kind == "single":
        return
    what = f"{kind}-label {name}" if name in supported else str(name)
    why = (
        f"continual does not support {what} runs; it continues {' and '.join(supported)} runs (single-label)"
    )
    raise ConfigError([ConfigIssue("previous", why, file=str(previous))])


def already_used(cfg: ContinualConfig, chain: list[dict[str, Any]], sha: str) -> bool:
    """`--if-new`: data.new (by content) was already used by the lineage or a version of `name`."""
    for m in chain:
        if (m.get("continual") or {}).get("new_data_sha256") == sha:
            log.info(
                "--if-new: %s was already used by %s; nothing to do",
                cfg.data.new,
                m.get("run", "the lineage"),
            )
            return True
    if cfg.name:
        from rawtune.versions import ModelStore

        hit = ModelStore().find_data(cfg.name, "new_data_sha256", sha)
        if hit is not None:
            log.info(
                "--if-new: %s was already used by %s version %d; nothing to do",
                cfg.data.new,
                hit.name,
                hit.version,
            )
            return True
    return False


def old_devs(cfg: ContinualConfig, chain: list[dict[str, Any]], base: dict[str, Any]) -> list[str]:
    """The earlier evaluation sets: data.old_dev, else the lineage's (refused when there are none)."""
    if cfg.data.old_dev:
        return [str(p) for p in cfg.data.old_dev]
    newest = chain[0].get("continual")
    devs = list(newest["dev_sets"]) if newest else ([base["dev"]] if base.get("dev") else [])
    if not devs:
        raise ConfigError(
            [ConfigIssue("data.old_dev", "no earlier evaluation set in the lineage: pass --old-dev FILE")]
        )
    return devs


def finetune_config(cfg: ContinualConfig, base: dict[str, Any], previous: Path) -> Any:
    """The fine-tuning config of the next version: the lineage's task, readers and model options,
    the previous run's model, the new data and this run's training settings."""
    from rawtune.config.loader import load_config

    task = base["task"]
    return load_config(
        "finetune",
        base={
            "seed": cfg.seed,
            "output": str(cfg.output),
            "model": {**base["model"], "name_or_path": str(previous)},
            "task": task,
            "data": {
                **base["data"],
                "train": str(cfg.data.new),
                "dev": str(cfg.data.dev) if cfg.data.dev else None,
            },
            "train": cfg.train.model_dump(),
        },
    )


def register(cfg: ContinualConfig, run: RunDir, previous: Path) -> Any:
    """The run as the next version of `cfg.name` (its parent: the version whose run is `previous`,
    if registered); promoted when asked and the gate passed."""
    import json

    from rawtune.versions import ModelStore

    reg = ModelStore()
    metrics = json.loads(run.metrics_json.read_text())
    known = reg.list(cfg.name) if cfg.name in reg.names() else []  # a new name starts at version 1
    parents = [v.version for v in known if Path(v.run).resolve() == previous.resolve()]
    version = reg.register(
        str(cfg.name),
        str(run.path.resolve()),
        parent=parents[-1] if parents else None,
        task=metrics.get("task"),
        metrics={"dev": metrics.get("dev"), "forgetting": metrics["forgetting"]},
        data={"new_data_sha256": run.manifest()["continual"]["new_data_sha256"]},
        gate=metrics.get("gate"),
    )
    gate = metrics.get("gate")
    if cfg.promote and (gate is None or gate["passed"]):
        version = reg.promote(version.name, version.version)
    return version
