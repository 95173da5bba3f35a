"""What each kind of pipeline stage is: its config schema, and how its config is completed from the
pipeline (output directory, the model it starts from, the seed). How a stage runs: `execute.py`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rawtune.config.base import PathStr
from rawtune.modeling.backbone import default_model

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
