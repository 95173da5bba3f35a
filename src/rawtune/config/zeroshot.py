"""The `rawtune zeroshot` config: a labeled (or unlabeled) table scored against label names with no
training, by embedding similarity, cloze prompts on an MLM head, or NLI entailment.

Comma strings are accepted where the CLI passes one (`labels: "a,b"`, `verbalizer: "pos=great,neg=bad"`),
and `descriptions` may name a YAML file; the resolved config.yaml holds the expanded lists and maps,
so feeding it back reproduces the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationInfo, field_validator, model_validator

from rawtune._version import __version__
from rawtune.config.base import STAGES, PathStr, Section, get_dotted
from rawtune.config.model import ModelConfig

METHODS = ("embedding", "cloze", "nli")
# a method's template when none is given: the cloze prompt, or the NLI hypothesis
DEFAULT_TEMPLATES = {"embedding": None, "cloze": "{text} It was {mask}.", "nli": "This example is {label}."}


class ZeroshotDataConfig(Section):
    file: PathStr | None = Field(None, description="Table to classify: .csv/.tsv/.jsonl (.txt: unlabeled).")
    split: str = Field("dev", description="Name of the split in metrics.json and RUN/eval/.")
    text_column: str = "text"
    label_column: str = Field("label", description="Gold labels; a file without this column is unlabeled.")
    max_length: int = Field(128, ge=16, le=8192, description="Tokens per input, special tokens included.")


def _split_items(value: Any) -> Any:
    if isinstance(value, str):
        return [s.strip() for s in value.split(",") if s.strip()]
    return value


@STAGES.register("zeroshot")
class ZeroshotConfig(Section):
    """`rawtune zeroshot`: classify without training, against label names or descriptions."""

    stage: Literal["zeroshot"] = "zeroshot"
    rawtune_version: str = __version__
    output: PathStr | None = Field(None, description="Run directory to create.")
    model: ModelConfig = ModelConfig()
    data: ZeroshotDataConfig = ZeroshotDataConfig()
    labels: list[str] = Field(default_factory=list, description="The label set, in order (a,b,c).")
    method: Literal["embedding", "cloze", "nli"] = "embedding"
    descriptions: dict[str, list[str]] = Field(
        default_factory=dict,
        description="embedding/nli: label -> one or more descriptions (averaged), or a YAML file of that "
        "map; a label without one is described by its name ('_'/'-' as spaces).",
    )
    template: str | None = Field(
        None,
        description="cloze: prompt with {text} and {mask} (default '{text} It was {mask}.'); "
        "nli: hypothesis with {label} (default 'This example is {label}.').",
    )
    verbalizer: dict[str, str] = Field(
        default_factory=dict, description="cloze: label -> one vocabulary word (pos=great,neg=terrible)."
    )
    batch_size: int = Field(32, ge=1)

    @staticmethod
    def missing_required(data: dict) -> list[str]:
        return [k for k in ("output", "data.file", "model.name_or_path", "labels") if not get_dotted(data, k)]

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, value: Any) -> Any:
        value = _split_items(value)
        return [str(v) for v in value] if isinstance(value, list) else value

    @field_validator("verbalizer", mode="before")
    @classmethod
    def _verbalizer(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        out = {}
        for item in _split_items(value):
            label, eq, word = item.partition("=")
            if not eq or not label.strip() or not word.strip():
                raise ValueError(f"expected label=word pairs like 'pos=great,neg=terrible', got {item!r}")
            out[label.strip()] = word.strip()
        return out

    @field_validator("descriptions", mode="before")
    @classmethod
    def _descriptions(cls, value: Any) -> Any:
        return parse_descriptions(value)

    @model_validator(mode="before")
    @classmethod
    def _default_template(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("template") is None:
            method = data.get("method", "embedding")
            return {**data, "template": DEFAULT_TEMPLATES.get(method)}
        return data

    # after-validators run in field order (labels, method, descriptions, template, verbalizer), so
    # each sees the fields before it and its error names its own key
    @field_validator("labels")
    @classmethod
    def _distinct(cls, labels: list[str]) -> list[str]:
        if len(set(labels)) != len(labels):
            raise ValueError(f"duplicate labels in {labels}")
        return labels

    @field_validator("descriptions")
    @classmethod
    def _known_descriptions(cls, value: dict[str, list[str]], info: ValidationInfo) -> dict[str, list[str]]:
        _check_keys(value, info.data.get("labels"))
        if any(not v for v in value.values()):
            raise ValueError("every label needs at least one description")
        return value

    @field_validator("template")
    @classmethod
    def _template_fields(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "method" in info.data:
            _check_template(info.data["method"], value)
        return value

    @field_validator("verbalizer")
    @classmethod
    def _verbalizer_covers(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        labels = info.data.get("labels")
        _check_keys(value, labels)
        if info.data.get("method") == "cloze" and labels:
            missing = [lab for lab in labels if lab not in value]
            if missing:
                raise ValueError(f"cloze needs a word for every label; missing: {missing}")
        return value


def _check_keys(mapping: dict[str, Any], labels: list[str] | None) -> None:
    unknown = sorted(set(mapping) - set(labels or []))
    if unknown and labels:
        raise ValueError(f"labels not in `labels` ({', '.join(labels)}): {unknown}")


def _check_template(method: str, template: str | None) -> None:
    need = {"cloze": ("{text}", "{mask}"), "nli": ("{label}",)}.get(method, ())
    if method == "embedding" and template is not None:
        raise ValueError("the embedding method takes no template (use descriptions)")
    for field in need:
        if template is None or template.count(field) != 1:
            raise ValueError(f"a {method} template needs {field} exactly once, got {template!r}")


def parse_descriptions(value: Any) -> Any:
    """A descriptions value as written (a YAML file name, or label -> text or list of texts) as
    label -> list of texts; anything else is left for the field's type check to refuse."""
    if isinstance(value, str):
        value = _read_descriptions(Path(value))
    if isinstance(value, dict):
        return {str(k): [v] if isinstance(v, str) else v for k, v in value.items()}
    return value


def _read_descriptions(path: Path) -> Any:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ValueError(f"cannot read descriptions file {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ValueError(f"descriptions file {path}: invalid YAML: {e}") from None
    if not isinstance(data, dict) or not all(
        isinstance(v, str) or (isinstance(v, list) and all(isinstance(s, str) for s in v))
        for v in data.values()
    ):
        raise ValueError(f"descriptions file {path}: expected a mapping label -> text or list of texts")
    return data


def finetune_config(cfg: ZeroshotConfig) -> Any:
    """The `rawtune finetune` config a loaded zero-shot run reads files and inputs with: single-label
    classification of the run's text and label columns, in its window."""
    from rawtune.config.loader import load_config

    d = cfg.data
    data = {"text_column": d.text_column, "label_column": d.label_column, "max_length": d.max_length}
    data["stride"] = min(32, d.max_length // 2 - 1)
    task = {"name": "classification", "label_kind": "single"}
    return load_config(
        "finetune", base={"model": cfg.model.model_dump(), "task": task, "data": data}, require=False
    )
