"""`rawtune continual PREVIOUS --new-data NEW --dev DEV --output RUN`: the next version of a
fine-tuned model. It is fine-tuning (the same stage, through `finetune.Extension`) starting from
the previous run's model, with:

- the label space grown for labels only the new data has (old head rows kept);
- replay: a seeded sample of earlier examples (the previous run's replay memory, or its training
  file) mixed into the new ones;
- optionally a penalty toward the previous weights (EWC or L2-SP) added to the loss;
- the forgetting report: every earlier evaluation set and the new one scored before (the previous
  model) and after, the drop on each earlier set in points, and the gate (`max_forgetting`).

RUN/replay/ keeps the memory the next version replays from."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path
from typing import Any

import yaml

from rawtune.config.continual import ContinualConfig
from rawtune.errors import ConfigError, ConfigIssue, DataError
from rawtune.logs import setup_logging
from rawtune.runs.atomic import write_json
from rawtune.runs.rundir import RunDir
from rawtune.stages.common import coerce_config

log = logging.getLogger("rawtune")
READER_KEYS = ("token_column", "tag_column", "scheme", "repair_tags", "text_column", "text_b_column")
READER_KEYS += ("label_column", "multi_label_sep", "max_length", "stride", "doc_context", "group_by_length")
GATE_FAILED = 4  # exit status when the model forgot more than max_forgetting: the code of every failed gate (compress, models promote)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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


def _check_previous(previous: Path, manifest: dict[str, Any]) -> None:
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


@dataclasses.dataclass
class ContinualResult:
    run: RunDir
    version: Any = None  # the registry's Version when `name` is set


def run_continual(config: Any, *, resume: bool = False) -> ContinualResult | None:
    """One continual version; None when `if_new` finds data.new already used by the lineage."""
    from rawtune.stages.finetune import run_finetune

    cfg: ContinualConfig = coerce_config("continual", config)
    setup_logging()
    previous = Path(str(cfg.previous))
    chain = lineage(previous)
    _check_previous(previous, chain[0])
    new_sha = sha256_file(str(cfg.data.new))
    if cfg.if_new and not resume and _already_used(cfg, chain, new_sha):
        return None
    base = base_config(previous, chain[0])
    old_devs = [str(p) for p in cfg.data.old_dev] or _lineage_devs(chain, base)
    if not old_devs:
        raise ConfigError(
            [ConfigIssue("data.old_dev", "no earlier evaluation set in the lineage: pass --old-dev FILE")]
        )
    ft = _finetune_config(cfg, base, previous)
    if not resume:
        RunDir.check_new(Path(str(cfg.output)))  # before the MLM step spends any time
    from rawtune.continual.plan import ContinualPlan

    mlm = _continued_mlm(cfg, previous, resume) if cfg.data.new_raw else None
    plan = ContinualPlan(cfg, ft, previous, chain[0], base, old_devs, new_sha, mlm)
    run = run_finetune(ft, resume=resume, extension=plan.extension())
    return ContinualResult(run, _register(cfg, run, previous) if cfg.name else None)


def _register(cfg: ContinualConfig, run: RunDir, previous: Path) -> Any:
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


def mlm_output(cfg: ContinualConfig) -> Path:
    out = Path(str(cfg.output))
    return out.with_name(out.name + "-mlm")


def _continued_mlm(cfg: ContinualConfig, previous: Path, resume: bool) -> Path:
    """`rawtune pretrain` (masked LM) of the previous model on data.new_raw, as its own run at
    OUTPUT-mlm (reused when complete, resumed when interrupted); returns the run's path."""
    from rawtune.runs.rundir import COMPLETE
    from rawtune.stages.pretrain import run_pretrain

    out = mlm_output(cfg)
    if RunDir.is_run(out) and RunDir(out).status == COMPLETE:
        log.info("continued MLM: reusing %s", out)
        return out
    m = cfg.mlm
    config = {
        "seed": cfg.seed,
        "output": str(out),
        "model": {"name_or_path": str(previous)},
        "data": {"corpus": [str(p) for p in cfg.data.new_raw], "seq_len": m.seq_len},
        "objective": {"name": "mlm"},
        "train": {
            "max_steps": m.steps,
            "batch_size": m.batch_size,
            "lr": m.lr,
            "progress": cfg.train.progress,
        },
    }
    if cfg.train.threads:
        config["train"]["threads"] = cfg.train.threads
    return run_pretrain(config, resume=RunDir.is_run(out)).path


def _already_used(cfg: ContinualConfig, chain: list[dict[str, Any]], sha: str) -> bool:
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


def _lineage_devs(chain: list[dict[str, Any]], base: dict[str, Any]) -> list[str]:
    newest = chain[0].get("continual")
    if newest:
        return list(newest["dev_sets"])
    return [base["dev"]] if base.get("dev") else []


def _finetune_config(cfg: ContinualConfig, base: dict[str, Any], previous: Path) -> Any:
    from rawtune.config.loader import load_config

    task = base["task"]
    if task["name"] == "pairs" or task.get("label_kind", "single") != "single":
        raise ConfigError(
            [ConfigIssue("previous", "continual supports ner and single-label classification runs")]
        )
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


def grown_space(task_name: str, old: list[str], new: Any) -> Any:
    """The previous labels in their order, then the labels only the new data has."""
    from rawtune.data.labels import LabelSpace

    return LabelSpace((*old, *(lab for lab in new.labels if lab not in old)))


def write_forgetting(run: Path, report: dict[str, Any]) -> None:
    (run / "eval").mkdir(parents=True, exist_ok=True)
    write_json(run / "eval" / "forgetting.json", report)


def replace_examples(data: Any, examples: list[Any]) -> Any:
    return dataclasses.replace(data, examples=examples)
