"""The kinds that use a trained model: `evaluate` (a report on a labeled file), `export` (a merged,
ONNX or int8 model) and `serve` (the HTTP server, started once every other stage is done). Each
starts from its `from` stage's run, else the config's `run`, else the pipeline's model."""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

from pydantic import Field

from rawtune.config.base import PathStr
from rawtune.pipeline.kinds import KINDS, Config, Kind, PlainConfig, first_source, own_run, plain


class EvaluateStageConfig(PlainConfig):
    output: PathStr
    run: PathStr
    data: PathStr
    name: str | None = Field(None, description="Report name (default: the data file's stem).")
    batch_size: int = Field(32, ge=1)


class ExportStageConfig(PlainConfig):
    output: PathStr
    run: PathStr
    onnx: bool = False
    quantize: Literal["int8"] | None = None
    merge: bool = False
    opset: int | None = None


def _run_of(cfg: Config, sources: dict[str, str], model: str | None) -> Config:
    return {**cfg, "run": first_source(sources) or cfg.get("run") or model}


def _evaluate(cfg: Config, resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.evaluate import evaluate_run

    run = own_run(cfg, "evaluate", cfg["run"])
    metrics, out = evaluate_run(
        cfg["run"], cfg["data"], name=cfg["name"], batch_size=cfg["batch_size"], out_root=run.path / "eval"
    )
    run.update_manifest(outputs={"report": str(out / "report.md")})
    run.finish({"data": cfg["data"], "evaluated": cfg["run"], out.name: metrics})
    return {"report": str(out / "report.md")}


def _export(cfg: Config, resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.export import export_run

    run = own_run(cfg, "export", cfg["run"])
    out = run.path / "model"
    record = export_run(
        cfg["run"],
        str(out),
        merge=cfg["merge"],
        onnx=cfg["onnx"],
        quantize=cfg["quantize"],
        opset=cfg["opset"],
    )
    run.update_manifest(outputs={"model": str(out)})
    run.finish({"export": record})
    return {"model": str(out)}


def _serve_config(cfg: Config) -> Config:
    from rawtune.config.serve import ServeConfig

    settings = {k: v for k, v in cfg.items() if k not in ("runs", "output")}
    return {**plain(ServeConfig, settings), "runs": cfg.get("runs") or {}}


def _served_runs(cfg: Config, sources: dict[str, str], model: str | None) -> Config:
    return {**cfg, "runs": dict(sources)}


def _serve(cfg: Config, resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.config.serve import ServeConfig
    from rawtune.serve.server import serve

    settings = {k: v for k, v in cfg.items() if k != "runs"}
    serve(cfg["runs"], ServeConfig(**settings))
    return {}


def _data(cfg: Config) -> list[tuple[str, Any]]:
    return [("data", cfg.get("data"))]


KINDS.register("evaluate")(
    Kind(partial(plain, EvaluateStageConfig), _evaluate, complete=_run_of, inputs=_data)
)
KINDS.register("export")(Kind(partial(plain, ExportStageConfig), _export, complete=_run_of, model="model"))
KINDS.register("serve")(Kind(_serve_config, _serve, complete=_served_runs, serves=True))
