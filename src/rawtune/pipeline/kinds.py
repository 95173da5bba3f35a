"""What each kind of pipeline stage is: its config schema, how its config is completed from the
pipeline (output directory, the model it starts from, the seed), and how it is executed. Training
stages call the same functions as their commands (`run_pretrain`, `run_finetune`, `compress_run`),
so a stage is exactly the run `rawtune <command>` would have made."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rawtune.config.base import PathStr

RESUMABLE = ("pretrain", "finetune", "compress", "learning_curve")
TRAINED = ("pretrain", "finetune", "learning_curve", "compress")  # take the pipeline's seed
STAGE_SCHEMA = {
    "pretrain": "pretrain",
    "finetune": "finetune",
    "compress": "compress",
    "learning_curve": "finetune",
}
SAMPLES = ("synthetic-ner",)


class _Plain(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrepareConfig(_Plain):
    """Copies the pipeline's input files into the stage (fingerprinted, read-only for later stages),
    or writes a bundled sample."""

    output: PathStr
    sample: Literal[SAMPLES] | None = Field(None, description="Write a bundled sample (train/dev/test/raw).")  # type: ignore[valid-type]
    files: dict[str, PathStr] = Field(default_factory=dict, description="name: path of each input file.")
    text_of: dict[str, str] = Field(
        default_factory=dict,
        description="new name: name of a labeled file above; its texts, one per line, as raw text "
        "(the task's own text for task-adaptive pretraining).",
    )


class TokenizerStageConfig(_Plain):
    output: PathStr
    corpus: list[PathStr] = Field(min_length=1)
    type: Literal["wordpiece", "bpe", "unigram"] = "wordpiece"
    vocab_size: int = Field(16000, ge=100)
    min_frequency: int = Field(2, ge=1)
    lowercase: bool = True
    text_field: str = "text"
    document: Literal["line", "paragraph"] = "line"


class EvaluateStageConfig(_Plain):
    output: PathStr
    run: PathStr
    data: PathStr
    name: str | None = Field(None, description="Report name (default: the data file's stem).")
    batch_size: int = Field(32, ge=1)


class ExportStageConfig(_Plain):
    output: PathStr
    run: PathStr
    onnx: bool = False
    quantize: Literal["int8"] | None = None
    merge: bool = False
    opset: int | None = None


class LearningCurveFields(_Plain):
    fractions: list[float] = Field(min_length=1)
    series: dict[str, str] = Field(default_factory=dict)
    min_steps: int = Field(0, ge=0, description="Train each point for at least this many optimizer steps.")


def default_model() -> str:
    from rawtune.stages.quickstart import default_model as packaged

    return packaged()


def complete_config(
    kind: str, cfg: dict[str, Any], *, output: str, sources: dict[str, str], model: str | None, seed: int
) -> dict[str, Any]:
    """The stage's config with what the pipeline provides filled in. `sources` maps each `from`
    stage to its run directory (or its symbolic reference while planning); `model` is the pipeline's
    model for stages without `from`."""
    cfg = {**cfg, "output": output}
    first = next(iter(sources.values()), None)
    if kind in TRAINED:
        cfg.setdefault("seed", seed)
    if kind in ("pretrain", "finetune"):
        m = dict(cfg.get("model") or {})
        if m.get("init", "pretrained") == "pretrained":
            m["name_or_path"] = first or m.get("name_or_path") or model or default_model()
        cfg["model"] = m
    elif kind == "learning_curve":
        cfg["series"] = dict(sources) or {"base": model or default_model()}
        # each series sets the model of its runs; the first one stands in while the config is checked
        cfg["model"] = {**(cfg.get("model") or {}), "name_or_path": next(iter(cfg["series"].values()))}
    elif kind == "compress":  # without `from`: the config's parent, else the pipeline's model
        cfg["parent"] = first or cfg.get("parent") or model
    elif kind in ("evaluate", "export"):
        cfg["run"] = first or cfg.get("run") or model
    elif kind == "serve":
        cfg["runs"] = dict(sources)
    return cfg


def validate(kind: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """The validated config, every default expanded, as plain JSON data; raises ConfigError whose
    keys are the stage config's own dotted keys."""
    from rawtune.config.loader import load_config

    if kind in STAGE_SCHEMA:
        extra: dict[str, Any] = {}
        body = dict(cfg)
        if kind == "learning_curve":
            extra = _plain(
                LearningCurveFields,
                {k: body.pop(k) for k in ("fractions", "series", "min_steps") if k in body},
            )
        return {**load_config(STAGE_SCHEMA[kind], base=body).model_dump(mode="json"), **extra}
    if kind == "serve":
        from rawtune.config.serve import ServeConfig

        runs = cfg.get("runs") or {}
        return {
            **_plain(ServeConfig, {k: v for k, v in cfg.items() if k not in ("runs", "output")}),
            "runs": runs,
        }
    schema = {
        "prepare": PrepareConfig,
        "tokenizer": TokenizerStageConfig,
        "evaluate": EvaluateStageConfig,
        "export": ExportStageConfig,
    }[kind]
    return _plain(schema, cfg)


def missing_inputs(kind: str, cfg: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, path) of the input files a stage names that do not exist, found while planning so a
    typo in the last stage's data does not wait for the first stages to train."""
    named: list[tuple[str, Any]] = []
    if kind == "prepare":
        named = [(f"files.{k}", v) for k, v in cfg.get("files", {}).items()]
    elif kind in ("finetune", "learning_curve"):
        named = [(f"data.{k}", (cfg.get("data") or {}).get(k)) for k in ("train", "dev", "test")]
    elif kind == "pretrain":
        named = [("data.corpus", p) for p in (cfg.get("data") or {}).get("corpus") or []]
    elif kind == "evaluate":
        named = [("data", cfg.get("data"))]
    return [
        (key, path)
        for key, path in named
        if isinstance(path, str)
        and not path.startswith(("@", "hf:"))
        and not any(c in path for c in "*?[")
        and not Path(path).exists()
    ]


def _plain(schema: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    from pydantic import ValidationError

    from rawtune.errors import ConfigError, ConfigIssue

    try:
        return schema.model_validate(data).model_dump(mode="json")
    except ValidationError as e:
        issues = [
            ConfigIssue(
                ".".join(str(p) for p in err["loc"]) or "-",
                "unknown key" if err["type"] == "extra_forbidden" else err["msg"],
            )
            for err in e.errors()
        ]
        raise ConfigError(issues) from None


# --- execution: each returns the files the stage produced, {name: path} ------------------------------
def execute(kind: str, cfg: dict[str, Any], *, resume: bool, progress: bool) -> dict[str, str]:
    runner: Callable[[dict[str, Any], bool, bool], dict[str, str]] = {
        "prepare": _prepare,
        "tokenizer": _tokenizer,
        "pretrain": _pretrain,
        "finetune": _finetune,
        "learning_curve": _learning_curve,
        "evaluate": _evaluate,
        "compress": _compress,
        "export": _export,
    }[kind]
    return runner(cfg, resume, progress)


def _with_progress(cfg: dict[str, Any], progress: bool) -> dict[str, Any]:
    return {**cfg, "train": {**(cfg.get("train") or {}), "progress": progress}}


def _pretrain(cfg: dict[str, Any], resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.pretrain import run_pretrain

    run = run_pretrain(_with_progress(cfg, progress), resume=resume)
    return {"model": str(run.model_dir)}


def _finetune(cfg: dict[str, Any], resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.finetune import run_finetune

    run = run_finetune(_with_progress(cfg, progress), resume=resume)
    return {"model": str(run.model_dir)}


def _learning_curve(cfg: dict[str, Any], resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.learning_curve import run_learning_curve

    body = {k: v for k, v in cfg.items() if k not in ("fractions", "series", "min_steps")}
    path = run_learning_curve(
        _with_progress(body, progress),
        cfg["fractions"],
        cfg["series"],
        min_steps=cfg["min_steps"],
        resume=resume,
    )
    return {"curve": str(path / "learning_curve.json")}


def _compress(cfg: dict[str, Any], resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.compress import compress_run

    run, _ = compress_run(_with_progress(cfg, progress) if "train" in cfg else cfg, resume=resume)
    return {"model": str(run.model_dir)}


def _own_run(cfg: dict[str, Any], kind: str, parent: str | None = None):
    import yaml

    from rawtune.runs.rundir import RunDir

    manifest = {"stage": kind, "parent": str(Path(parent).resolve()) if parent else None}
    return RunDir.create(cfg["output"], yaml.safe_dump(cfg, sort_keys=False), manifest)


def _prepare(cfg: dict[str, Any], resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.errors import ConfigError, ConfigIssue, DataError
    from rawtune.runs.atomic import sha256_file

    run = _own_run(cfg, "prepare")
    data = run.path / "data"
    outputs: dict[str, Path] = {}
    if cfg["sample"] == "synthetic-ner":
        from rawtune.samples.synthetic_ner import write

        outputs.update(write(data))
    for key, src in cfg["files"].items():
        p = Path(src)
        if not p.is_file():
            raise DataError("no such file", file=src, field=f"files.{key}")
        dst = data / key / p.name  # the file's own name: readers pick the format by its extension
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, dst)
        outputs[key] = dst
    for key, of in cfg["text_of"].items():
        if of not in outputs:
            raise ConfigError(
                [
                    ConfigIssue(
                        f"text_of.{key}", f"'{of}' is not one of this stage's files: {', '.join(outputs)}"
                    )
                ]
            )
        outputs[key] = data / f"{key}.txt"
        lines = _texts(str(outputs[of]))
        outputs[key].write_text("".join(t + "\n" for t in lines), encoding="utf-8")
    files = {
        k: {"path": str(v), "sha256": sha256_file(v), "bytes": v.stat().st_size} for k, v in outputs.items()
    }
    run.update_manifest(outputs={k: str(v) for k, v in outputs.items()})
    run.finish({"files": files})
    return {k: str(v) for k, v in outputs.items()}


def _texts(path: str) -> list[str]:
    """The texts of a labeled file: a CoNLL/JSONL token file's sentences (words joined by spaces) or
    a CSV/TSV/JSONL table's text column."""
    import json

    from rawtune.data.readers.labeled import read_text_table, read_token_file

    name = path.lower().removesuffix(".gz")
    table = name.endswith((".csv", ".tsv"))
    if name.endswith(".jsonl"):
        with open(path, encoding="utf-8") as f:
            first = next((line for line in f if line.strip()), "{}")
        table = "tokens" not in json.loads(first)
    if table:
        return [
            " ".join(filter(None, (e.text, e.text_b))) for e in read_text_table(path, labeled=False).examples
        ]
    return [" ".join(e.tokens) for e in read_token_file(path, labeled=False).examples]


def _tokenizer(cfg: dict[str, Any], resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.config.loader import load_config
    from rawtune.modeling.tokenizers import train_tokenizer

    run = _own_run(cfg, "tokenizer")
    data_cfg = load_config(
        "pretrain",
        overrides={
            "data.corpus": cfg["corpus"],
            "data.text_field": cfg["text_field"],
            "data.document": cfg["document"],
        },
        require=False,
    ).data
    out = run.path / "tokenizer"
    tok = train_tokenizer(
        cfg["corpus"],
        out,
        type=cfg["type"],
        vocab_size=cfg["vocab_size"],
        min_frequency=cfg["min_frequency"],
        lowercase=cfg["lowercase"],
        data_cfg=data_cfg,
    )
    run.update_manifest(outputs={"tokenizer": str(out)})
    run.finish({"vocab_size": len(tok)})
    return {"tokenizer": str(out)}


def _evaluate(cfg: dict[str, Any], resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.evaluate import evaluate_run

    run = _own_run(cfg, "evaluate", cfg["run"])
    metrics, out = evaluate_run(
        cfg["run"], cfg["data"], name=cfg["name"], batch_size=cfg["batch_size"], out_root=run.path / "eval"
    )
    run.update_manifest(outputs={"report": str(out / "report.md")})
    run.finish({"data": cfg["data"], "evaluated": cfg["run"], out.name: metrics})
    return {"report": str(out / "report.md")}


def _export(cfg: dict[str, Any], resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.export import export_run

    run = _own_run(cfg, "export", cfg["run"])
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
