"""`rawtune export RUN --output DIR [--merge | --onnx [--quantize int8]]`: a plain artifact out of a run.
With --merge, a PEFT run's adapter (LoRA, IA3, BitFit) is folded into the base weights and written as an
ordinary `save_pretrained` model, after checking that the merged model's outputs equal the adapter model's
on sample inputs. With --onnx, the run's model (an adapter run's merged one) becomes an ONNX graph checked
against PyTorch (`rawtune.export.onnx`)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from rawtune.errors import ModelError, RawtuneError, RunDirError

log = logging.getLogger("rawtune")
PARITY_ATOL = 1e-4


def _probe_inputs(tokenizer: Any) -> dict[str, Any]:
    texts = ["Maria Lopez met officials in Paris on Monday .", "The film was good", "a"]
    return tokenizer(texts, padding=True, return_tensors="pt")


def export_run(
    run_path: str,
    output: str,
    *,
    merge: bool = False,
    onnx: bool = False,
    quantize: str | None = None,
    opset: int | None = None,
) -> dict[str, Any]:
    import torch

    from rawtune.artifacts.adapters import has_adapter, load_adapter, read_meta
    from rawtune.logs import setup_logging
    from rawtune.modeling.backbone import load_tokenizer
    from rawtune.runs.atomic import atomic_dir
    from rawtune.runs.rundir import RunDir
    from rawtune.tuning.io import merge as merge_model

    setup_logging()
    run = RunDir(Path(run_path))
    out = Path(output)
    if (quantize is not None or opset is not None) and not onnx:
        flag = "--quantize" if quantize is not None else "--opset"
        raise RawtuneError(f"{flag} applies to ONNX exports only: add --onnx")
    _check_paths(run_path, out, "onnx" if onnx else "merge" if merge else "copy")
    if onnx:
        return _export_onnx(run, out, quantize=quantize, opset=opset)
    adapter = has_adapter(run.adapter_dir)
    if not merge:
        src = run.adapter_dir if adapter else run.model_dir
        if not src.is_dir():
            raise RunDirError(f"{run_path}: nothing to export (no model/ or adapter/)")
        with atomic_dir(out) as tmp:
            shutil.copytree(src, tmp, dirs_exist_ok=True)
            _with_task(run, tmp)
        return {"exported": str(src), "output": str(out), "merged": False}
    if not adapter:
        raise RunDirError(f"{run_path}: --merge needs a PEFT run (adapter/); its model/ is already plain")
    meta = read_meta(run.adapter_dir)
    if not meta.get("mergeable", meta["method"] in ("lora", "ia3")):
        raise ModelError(
            f"{run_path}: a '{meta['method']}' adapter cannot be merged into the weights (only lora, ia3 "
            "and bitfit can); export it without --merge"
        )
    model = load_adapter(run.adapter_dir)
    tokenizer = load_tokenizer(
        str(run.model_dir if (run.model_dir / "config.json").is_file() else run.adapter_dir)
    )
    merged = merge_model(model).eval()
    model.eval()
    with torch.no_grad():
        batch = _probe_inputs(tokenizer)
        diff = float((model(**batch).logits - merged(**batch).logits).abs().max())
    if diff > PARITY_ATOL:
        raise ModelError(f"merged outputs differ from the adapter model's by {diff:.2e} (> {PARITY_ATOL})")
    with atomic_dir(out) as tmp:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _with_task(run, tmp)
    log.info("merged %s into %s (max |logit difference| %.2e)", run.adapter_dir, out, diff)
    return {"output": str(out), "merged": True, "max_abs_diff": diff}


def _check_paths(run_path: str, out: Path, form: str) -> None:
    """The run exists and is of a kind that has this export form; the output is a new directory."""
    from rawtune.artifacts.kinds import run_kind

    if not Path(run_path).is_dir():
        raise RunDirError(f"{run_path}: no such run directory")
    run_kind(run_path).check_export(run_path, form)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{out} is a file; --output names a directory to create")
    if out.exists() and any(out.iterdir()):
        raise RunDirError(f"{out} exists and is not empty; choose another --output")


def _with_task(run: Any, out: Path) -> None:
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


def _export_onnx(run: Any, out: Path, *, quantize: str | None, opset: int | None) -> dict[str, Any]:
    """RUN/model/ (an adapter run's merged model) as ONNX; an adapter that cannot merge (prompt,
    prefix, bottleneck) is exported as base + adapter where the exporters can trace it."""
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
