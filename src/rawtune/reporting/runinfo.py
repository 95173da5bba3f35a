"""Everything a report shows about one run directory, read once and tolerantly: an older run, a
failed one or a pretraining run lacks some files, and the report says what is missing instead of
failing. Nothing here imports torch or transformers: what a run's task is known from its name and
recorded config (`tasks.base.task_info`: a task module imports no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from rawtune.reporting.files import dig, dir_mb, number, obj, read_json, read_jsonl, read_text, read_yaml, seq
from rawtune.tasks.base import TaskInfo, task_info


@dataclass
class RunInfo:
    path: Path
    problems: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | Path) -> RunInfo:
        info = cls(Path(path))
        for prop in ("manifest", "metrics", "history", "evals", "data_stats", "learning_curve", "config"):
            getattr(info, prop)  # read everything now: problems are known before rendering
        return info

    # --- files -------------------------------------------------------------------------------
    @cached_property
    def manifest(self) -> dict[str, Any]:
        return read_json(self.path / "manifest.json", self.problems) or {}

    @cached_property
    def metrics(self) -> dict[str, Any]:
        return read_json(self.path / "metrics.json", self.problems) or {}

    @cached_property
    def history(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path / "metrics.jsonl", self.problems)

    @cached_property
    def config_text(self) -> str | None:
        return read_text(self.path / "config.yaml")

    @cached_property
    def config(self) -> dict[str, Any]:
        return read_yaml(self.config_text, self.problems)

    @cached_property
    def finetune_config(self) -> dict[str, Any]:
        """The fine-tuning config: the run's own, or the parent's copy a compress run keeps."""
        own = self.path / "finetune.yaml"
        return read_yaml(read_text(own), self.problems) if own.is_file() else self.config

    @cached_property
    def data_stats(self) -> dict[str, Any] | None:
        return read_json(self.path / "data_stats.json", self.problems)

    @cached_property
    def learning_curve(self) -> dict[str, Any] | None:
        return read_json(self.path / "learning_curve.json", self.problems)

    @cached_property
    def evals(self) -> dict[str, dict[str, Any]]:
        """{split: eval/<split>/report.json}, dev and test first."""
        root = self.path / "eval"
        found = sorted(root.glob("*/report.json")) if root.is_dir() else []
        order = {"dev": 0, "test": 1}
        found.sort(key=lambda p: (order.get(p.parent.name, 2), p.parent.name))
        out = {}
        for p in found:
            rep = read_json(p, self.problems)
            if isinstance(rep, dict) and isinstance(rep.get("metrics"), dict):
                out[p.parent.name] = rep
        return out

    # --- facts ---------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.resolve().name or str(self.path)

    @property
    def stage(self) -> str:
        if self.learning_curve is not None and not self.manifest:
            return "learning_curve"
        return str(
            self.manifest.get("stage") or self.metrics.get("stage") or self.config.get("stage") or "run"
        )

    @property
    def status(self) -> str:
        if self.manifest:
            return str(self.manifest.get("status") or "unknown")
        return "complete" if self.learning_curve is not None else "unknown"

    @property
    def task(self) -> str | None:
        task = self.manifest.get("task") or self.metrics.get("task") or dig(self.learning_curve, "task")
        return str(task) if task else None

    @property
    def labels(self) -> list[str]:
        return [str(x) for x in seq(self.manifest.get("labels"))]

    @cached_property
    def task_info(self) -> TaskInfo | None:
        """What the run's task is (None: no task recorded, or one this rawtune does not know)."""
        return task_info(self.task, self.finetune_config)

    @property
    def primary(self) -> str:
        """The metric key the run was selected / gated by."""
        chosen = dig(self.metrics, "selected_by", "metric") or dig(self.metrics, "gate", "metric")
        if chosen:
            return str(chosen)
        if self.stage == "pretrain":
            return "loss"
        if dig(self.learning_curve, "metric"):
            return str(dig(self.learning_curve, "metric"))
        return self.task_info.primary[0] if self.task_info is not None else "f1"

    def split_metrics(self, split: str) -> dict[str, Any]:
        """Final metrics of a split: metrics.json first, then eval/<split>/report.json."""
        if self.stage == "pretrain" and split == "dev":
            return obj(self.metrics.get("after"))
        return obj(self.metrics.get(split)) or obj(dig(self.evals, split, "metrics"))

    def score(self, split: str = "dev") -> float | None:
        return number(self.split_metrics(split).get(self.primary))

    @property
    def size_mb(self) -> float | None:
        """Weight files of the model as served: the compress measurement, model/, or the adapter."""
        measured = number(dig(self.metrics, "size", "compressed", "mb"))
        if measured is not None:
            return measured
        return dir_mb(self.path / "model") or dir_mb(self.path / "adapter")

    @property
    def latency_ms(self) -> float | None:
        return number(dig(self.metrics, "latency", "compressed", "latency_ms"))

    @property
    def parameters(self) -> dict[str, Any]:
        return obj(self.manifest.get("parameters")) or obj(dig(self.metrics, "train", "parameters"))

    @property
    def tuning_method(self) -> str | None:
        method = dig(self.manifest, "tuning", "method")
        if method:
            return str(method)
        method = self.manifest.get("method") or self.metrics.get("method")
        if isinstance(method, dict):
            return ", ".join(f"{k} {v}" if isinstance(v, str) else str(k) for k, v in method.items())
        return str(method) if method else None

    @property
    def train_seconds(self) -> float | None:
        return number(dig(self.metrics, "train", "train_seconds")) or number(
            self.metrics.get("train_seconds")
        )
