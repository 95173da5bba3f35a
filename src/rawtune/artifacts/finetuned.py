"""The runs fine-tuning writes, loaded: `rawtune finetune` (and what trains through fine-tuning's
steps: continual, selftrain rounds, hpo trials, few-shot fine-tuning), `rawtune compress`, and an
ONNX export of any of them. Their model is in one of `artifacts.formats`' forms; their task is the
one their fine-tuning config names (`artifacts.loaded.finetune_config`)."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from rawtune.artifacts.loaded import FINETUNE_CONFIG, LoadedRun, finetune_config
from rawtune.errors import RunDirError

log = logging.getLogger("rawtune")


def decoded_as_written(cfg: Any, run_path: Path) -> Any:
    """A run whose config predates `task.decode` (rawtune before Viterbi decoding became the
    default) keeps the per-word argmax it was evaluated with, so it predicts as it always did."""
    import yaml

    written = yaml.safe_load(finetune_config(run_path).read_text()) or {}
    if "decode" not in type(cfg.task).model_fields or "decode" in (written.get("task") or {}):
        return cfg
    return cfg.model_copy(update={"task": cfg.task.model_copy(update={"decode": "argmax"})})


def load_finetuned(
    path: str | os.PathLike, device: str, base: str | None, *, merged: bool, strict: bool
) -> LoadedRun:
    """A run fine-tuning wrote (see the module); `merged`, `base`, `strict` as in `load_run`."""
    from rawtune.artifacts.onnx import is_onnx_dir
    from rawtune.runs.rundir import RunDir

    if is_onnx_dir(path):  # `rawtune export --onnx`: runs on the CPU through onnxruntime
        if base is not None:
            raise RunDirError(f"{path}: an ONNX export holds a whole model; base= does not apply")
        return load_onnx_run(path)
    run = RunDir(Path(path))
    if RunDir.is_run(run.path) and is_onnx_dir(run.model_dir):  # `rawtune compress --onnx`
        if base is not None:
            raise RunDirError(f"{path}: its model is an ONNX export; base= does not apply")
        return replace(load_onnx_run(run.model_dir), run_path=run.path)
    return _load_torch(path, device, base, merged=merged, strict=strict)


def run_finetune_config(run_path: Path) -> Any:
    """The fine-tuning config a run's model is used with: its FINETUNE_CONFIG, else config.yaml. A
    continual run written before it kept FINETUNE_CONFIG is read from its manifest: the lineage's
    task, readers and model options, on this run's model."""
    import yaml

    from rawtune.config.loader import load_config
    from rawtune.runs.rundir import RunDir

    path = finetune_config(run_path)
    written = yaml.safe_load(path.read_text()) or {}
    if path.name == "config.yaml" and isinstance(written, dict) and written.get("stage") == "continual":
        base = RunDir(Path(run_path)).manifest()["continual"]["base"]
        model = {**base["model"], "name_or_path": str(run_path)}
        cfg = load_config("finetune", base={"task": base["task"], "data": base["data"], "model": model},
                          require=False)  # fmt: skip
        return decoded_as_written(cfg, run_path)
    return decoded_as_written(load_config("finetune", file=path, require=False), run_path)


def _load_torch(
    path: str | os.PathLike, device: str, base: str | None, *, merged: bool, strict: bool
) -> LoadedRun:
    from rawtune.artifacts.adapters import has_adapter, head_labels
    from rawtune.artifacts.formats import load_model
    from rawtune.artifacts.int8 import is_quantized
    from rawtune.modeling.backbone import load_tokenizer
    from rawtune.runs.rundir import RunDir
    from rawtune.tasks.base import get_task

    run = RunDir(Path(path))
    if not run.path.exists():
        raise RunDirError(f"{path}: no such run directory")
    has_model = (run.model_dir / "config.json").is_file()
    adapter = has_adapter(run.adapter_dir)
    if not RunDir.is_run(run.path) or not (has_model or adapter):
        raise RunDirError(f"{path}: not a finished rawtune finetune run (no model/config.json or adapter/)")
    if base is not None and not adapter and strict:
        raise RunDirError(f"{path}: base= needs a run with an adapter/ (this one saved a whole model)")
    cfg = run_finetune_config(run.path)
    task = get_task(cfg)
    merged = merged or task.needs_model_dir  # e.g. tokens the task added live in RUN/model/ only
    on_base = adapter and (base is not None or not merged or not has_model)
    model = load_model(run.adapter_dir if on_base else run.model_dir, task.auto_class_name, base=base)
    model = task.restore_model(model, str(run.adapter_dir if on_base else run.model_dir))
    if is_quantized(run.model_dir) and device != "cpu":
        log.info("%s: a dynamic int8 model runs on the CPU only; loading it there", path)
        device = "cpu"
    model.to(device)
    model.eval()
    tokenizer = load_tokenizer(str(run.model_dir if has_model else run.adapter_dir))
    return LoadedRun(run.path, cfg, task, model, tokenizer, task.head_space(head_labels(model)))


def load_onnx_run(
    path: str | os.PathLike, *, file: str | None = None, threads: int | None = None
) -> LoadedRun:
    """An ONNX export as a loaded run (model, tokenizer, task and label space), built from the
    fine-tuning config the export carries (FINETUNE_CONFIG, written when it came from a run)."""
    from rawtune.artifacts.onnx import load_onnx_model
    from rawtune.config.loader import load_config
    from rawtune.modeling.backbone import load_tokenizer
    from rawtune.tasks.base import get_task

    root = Path(path)
    model = load_onnx_model(root, file=file, threads=threads)
    if not (root / FINETUNE_CONFIG).is_file():
        raise RunDirError(
            f"{path}: this ONNX export has no {FINETUNE_CONFIG} (it was not exported from a run), so "
            "its task is unknown; run it with rawtune.artifacts.onnx.OnnxModel directly"
        )
    cfg = load_config("finetune", file=root / FINETUNE_CONFIG, require=False)
    task = get_task(cfg)
    space = task.head_space({int(k): v for k, v in model.config.id2label.items()})
    return LoadedRun(root, cfg, task, model, load_tokenizer(str(root)), space)
