"""The kinds that train: each calls its command's own function (`run_pretrain`, `run_finetune`,
`run_learning_curve`, `run_selftrain`, `compress_run`) on that command's config, so a stage is exactly the run
`rawtune <command>` would have made. They take the pipeline's seed, and a failed run resumes."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from pydantic import Field

from rawtune.modeling.backbone import default_model
from rawtune.pipeline.kinds import KINDS, Config, Kind, PlainConfig, first_source, plain
from rawtune.runs.rundir import RunDir


class LearningCurveFields(PlainConfig):
    fractions: list[float] = Field(min_length=1)
    series: dict[str, str] = Field(default_factory=dict)
    min_steps: int = Field(0, ge=0, description="Train each point for at least this many optimizer steps.")


CURVE_FIELDS = ("fractions", "series", "min_steps")


def _command_config(stage: str, cfg: Config) -> Config:
    from rawtune.config.loader import load_config

    return load_config(stage, base=cfg).model_dump(mode="json")


def _curve_config(cfg: Config) -> Config:
    """A fine-tuning config, plus the points of the curve and the models it compares."""
    body = dict(cfg)
    extra = plain(LearningCurveFields, {k: body.pop(k) for k in CURVE_FIELDS if k in body})
    return {**_command_config("finetune", body), **extra}


def _backbone(cfg: Config, sources: dict[str, str], model: str | None) -> Config:
    """A pretrained backbone: the `from` stage's model, else the config's own, else the pipeline's."""
    m = dict(cfg.get("model") or {})
    if m.get("init", "pretrained") == "pretrained":
        m["name_or_path"] = first_source(sources) or m.get("name_or_path") or model or default_model()
    return {**cfg, "model": m}


def _series(cfg: Config, sources: dict[str, str], model: str | None) -> Config:
    series = dict(sources) or {"base": model or default_model()}
    # each series sets the model of its runs; the first one stands in while the config is checked
    return {
        **cfg,
        "series": series,
        "model": {**(cfg.get("model") or {}), "name_or_path": next(iter(series.values()))},
    }


def _parent(cfg: Config, sources: dict[str, str], model: str | None) -> Config:
    """Without `from`: the config's parent, else the pipeline's model."""
    return {**cfg, "parent": first_source(sources) or cfg.get("parent") or model}


def _corpus(cfg: Config) -> list[tuple[str, Any]]:
    return [("data.corpus", p) for p in (cfg.get("data") or {}).get("corpus") or []]


def _labeled(cfg: Config) -> list[tuple[str, Any]]:
    data = cfg.get("data") or {}
    named = [(f"data.{k}", data.get(k)) for k in ("train", "dev", "test")]
    return named + [("data.extra_train", p) for p in data.get("extra_train") or []]


def _has_checkpoint(run: RunDir) -> bool:
    from rawtune.runs.checkpoint import latest_verified

    return latest_verified(run.checkpoints_dir, lambda msg: None) is not None


def _with_progress(cfg: Config, progress: bool) -> Config:
    return {**cfg, "train": {**(cfg.get("train") or {}), "progress": progress}}


def _pretrain(cfg: Config, resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.pretrain import run_pretrain

    run = run_pretrain(_with_progress(cfg, progress), resume=resume)
    return {"model": str(run.model_dir)}


def _finetune(cfg: Config, resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.finetune import run_finetune

    run = run_finetune(_with_progress(cfg, progress), resume=resume)
    return {"model": str(run.model_dir)}


def _learning_curve(cfg: Config, resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.learning_curve import run_learning_curve

    body = {k: v for k, v in cfg.items() if k not in CURVE_FIELDS}
    path = run_learning_curve(
        _with_progress(body, progress),
        cfg["fractions"],
        cfg["series"],
        min_steps=cfg["min_steps"],
        resume=resume,
    )
    return {"curve": str(path / "learning_curve.json")}


def _selftrain_model(cfg: Config, sources: dict[str, str], model: str | None) -> Config:
    """As `_backbone`, but a config that names a teacher and no model keeps the teacher's backbone."""
    if cfg.get("teacher") and not sources and not (cfg.get("model") or {}).get("name_or_path"):
        return cfg
    return _backbone(cfg, sources, model)


def _selftrain_inputs(cfg: Config) -> list[tuple[str, Any]]:
    teacher = [("teacher", cfg["teacher"])] if cfg.get("teacher") else []
    return _labeled(cfg) + [("unlabeled", p) for p in cfg.get("unlabeled") or []] + teacher


def _selftrain(cfg: Config, resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.selftrain import run_selftrain

    result = run_selftrain(_with_progress(cfg, progress), resume=resume)
    return {"model": str(result.best), "summary": str(result.output / "selftrain.json")}


def _best_round(run: Path) -> str:
    from rawtune.selftrain.rounds import best_run

    return str(best_run(run))


def _compress(cfg: Config, resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.compress import compress_run

    run, _ = compress_run(_with_progress(cfg, progress) if "train" in cfg else cfg, resume=resume)
    return {"model": str(run.model_dir)}


trains = partial(Kind, seeded=True, resumable=_has_checkpoint)
KINDS.register("pretrain")(
    trains(partial(_command_config, "pretrain"), _pretrain, complete=_backbone, inputs=_corpus)
)
KINDS.register("finetune")(
    trains(partial(_command_config, "finetune"), _finetune, complete=_backbone, inputs=_labeled)
)
KINDS.register("learning_curve")(  # resumes whatever it had: each point is a run of its own
    trains(_curve_config, _learning_curve, complete=_series, inputs=_labeled, resumable=lambda run: True)
)
KINDS.register("selftrain")(  # each round is a run of its own: finished ones are reused
    trains(
        partial(_command_config, "selftrain"),
        _selftrain,
        complete=_selftrain_model,
        inputs=_selftrain_inputs,
        resumable=lambda run: True,
        model=_best_round,
    )
)
KINDS.register("compress")(trains(partial(_command_config, "compress"), _compress, complete=_parent))
