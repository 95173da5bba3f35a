"""Every on-disk form a run's model takes, one row each: what writes it, what marks its directory, and
how it loads. The first row whose mark a directory has is its form (an int8 or ONNX directory also
holds a config.json, so the marked forms come first).

An adapter run holds RUN/adapter/ and, when its method can merge (LoRA, IA3, BitFit), RUN/model/
too: the merged model, a `plain` (or `pruned`) row. Which of the two a run loads from is
`artifacts.run.load_run`'s choice (`merged`, `base`); this table only says how each directory loads.
Writers stay with their feature and share the marks through these modules: `tuning.io` (adapters,
plain), `modeling.pruned` (pruned), `compress.quantize` (int8), `export.onnx` (ONNX)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rawtune.artifacts import int8, onnx
from rawtune.artifacts.adapters import has_adapter, load_adapter
from rawtune.artifacts.pretrained import is_pruned, load_task_model
from rawtune.errors import ModelError
from rawtune.modeling import pruned_modeling
from rawtune.tuning.io import META as ADAPTER_META

# how a row loads its directory: (directory, the task's auto class name, the base model named for an
# adapter or None) -> the model
Loader = Callable[[Path, str, str | None], Any]


@dataclass(frozen=True)
class ModelFormat:
    name: str
    written_by: str
    mark: str  # what a directory of this form holds
    recognise: Callable[[Path], bool]
    load: Loader


def _saved(path: Path, auto_class_name: str, base: str | None) -> Any:
    return load_task_model(str(path), auto_class_name)


FORMATS: tuple[ModelFormat, ...] = (
    ModelFormat(
        "onnx",
        "rawtune export --onnx (a directory of its own); rawtune compress --onnx (RUN/model/)",
        onnx.META,
        onnx.is_onnx_dir,
        lambda path, auto_class_name, base: onnx.load_onnx_model(path),
    ),
    ModelFormat(
        "int8",
        "rawtune compress --quantize int8 (RUN/model/): dynamic int8 linear layers, CPU only",
        int8.META,
        int8.is_quantized,
        lambda path, auto_class_name, base: int8.load_quantized(path, auto_class_name),
    ),
    ModelFormat(
        "adapter",
        "rawtune finetune with an adapter method (RUN/adapter/): peft's or rawtune's own, on a base",
        ADAPTER_META,
        has_adapter,
        lambda path, auto_class_name, base: load_adapter(path, base),
    ),
    ModelFormat(
        "pruned",
        "rawtune compress --prune heads/ffn/layers, or fine-tuning from such a model (RUN/model/)",
        f"config.json with {pruned_modeling.STRUCTURE_KEY}",
        is_pruned,
        _saved,
    ),
    ModelFormat(
        "plain",
        "save_pretrained (RUN/model/): full and freeze fine-tuning, a merged adapter, distillation",
        "config.json",
        lambda path: (Path(path) / "config.json").is_file(),
        _saved,
    ),
)


def model_format(path: str | Path) -> ModelFormat | None:
    """The form of the model saved in the directory `path`, or None when it holds none."""
    return next((f for f in FORMATS if f.recognise(Path(path))), None)


def load_model(path: str | Path, auto_class_name: str, *, base: str | None = None) -> Any:
    """The model saved in the directory `path`, in whichever form it is (`base`: the base model for
    an adapter, None for the recorded one)."""
    form = model_format(path)
    if form is None:
        marks = ", ".join(f.mark for f in FORMATS)
        raise ModelError(f"{path}: no saved model here (a model directory holds one of: {marks})")
    return form.load(Path(path), auto_class_name, base)
