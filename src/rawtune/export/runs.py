"""A run's exports (`rawtune export`): its model as ONNX (checked against PyTorch by
`export.onnx`), and the fine-tuning config an exported model carries so rawtune predicts with it as
with the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rawtune.errors import ModelError, RunDirError


def write_task(run: Any, out: Path) -> None:
    """A fine-tuned run's fine-tuning config beside its exported model (FINETUNE_CONFIG): the task,
    its label kind and the data settings, so rawtune predicts with the export as with the run."""
    from rawtune.artifacts.finetuned import run_finetune_config
    from rawtune.artifacts.kinds import run_kind
    from rawtune.artifacts.loaded import FINETUNE_CONFIG
    from rawtune.config.loader import dump_config
    from rawtune.runs.atomic import write_text
    from rawtune.runs.rundir import RunDir

    if run_kind(run.path).name == "finetune" and RunDir.is_run(run.path):
        write_text(out / FINETUNE_CONFIG, dump_config(run_finetune_config(run.path)))


def export_run_onnx(
    run: Any, out: Path, *, quantize: str | None, opset: int | None, gate: bool = True
) -> dict[str, Any]:
    """RUN/model/ (an adapter run's merged model) as ONNX; an adapter that cannot merge (prompt,
    prefix, bottleneck) is exported as base + adapter where the exporters can trace it.
    `gate=False`: the int8 graph's argmax agreement with PyTorch is recorded, not enforced."""
    import json

    from rawtune.artifacts.adapters import has_adapter, read_meta
    from rawtune.artifacts.formats import load_model, model_format
    from rawtune.artifacts.loaded import FINETUNE_CONFIG, finetune_config
    from rawtune.config.loader import load_config
    from rawtune.export.onnx import export_onnx
    from rawtune.export.parity import dev_texts
    from rawtune.modeling.backbone import load_tokenizer
    from rawtune.tasks.base import get_task

    ft_config = finetune_config(run.path)  # a compressed run keeps its parent's fine-tuning config
    if not ft_config.is_file():
        raise RunDirError(f"{run.path}: not a rawtune finetune run (no config.yaml)")
    cfg = load_config("finetune", file=ft_config, require=False)
    task = get_task(cfg)
    if task.generative:
        raise ModelError(f"{run.path}: ONNX export of a {task.name} (generation) run is not supported yet")
    has_model = (run.model_dir / "config.json").is_file()
    adapter = has_adapter(run.adapter_dir)
    if not (has_model or adapter):
        raise RunDirError(f"{run.path}: nothing to export (no model/ or adapter/)")
    form = model_format(run.model_dir)
    if form is not None and form.name == "onnx":
        raise ModelError(f"{run.path} already holds an ONNX model (rawtune compress --onnx); use it as it is")
    method = read_meta(run.adapter_dir)["method"] if adapter else None
    if form is not None and form.name == "int8":
        parent = (
            json.loads(run.manifest_path.read_text()).get("parent") if run.manifest_path.is_file() else None
        )
        raise ModelError(
            f"{run.path} holds a PyTorch int8 model (rawtune compress --quantize int8), which does not "
            f"export to ONNX; export its parent run{f' ({parent})' if parent else ''} with --onnx "
            "--quantize int8 instead"
        )
    source = run.model_dir if has_model else run.adapter_dir
    model = load_model(source, task.auto_class_name)
    tokenizer = load_tokenizer(str(run.model_dir if has_model else run.adapter_dir))
    meta = {"source": {"run": str(run.path.resolve()), "dir": source.name, "tuning": method or "full"}}
    texts = dev_texts(task, cfg.data.dev)
    try:
        export_onnx(
            model, tokenizer, out, opset=opset, quantize=quantize, texts=texts,
            texts_from=cfg.data.dev if texts else None, files=[(ft_config, FINETUNE_CONFIG)], meta=meta,
            **({} if gate else {"min_agreement": None}),
        )  # fmt: skip
    except ModelError as e:
        if source == run.adapter_dir:
            raise ModelError(
                f"{run.path}: its '{method}' adapter cannot be merged, and the model with the adapter "
                f"in place did not export to ONNX: {e}"
            ) from None
        raise
    info = json.loads((out / "rawtune_onnx.json").read_text())
    return {"output": str(out), "onnx": True, "model": info["model"], "parity": info["parity"]}
