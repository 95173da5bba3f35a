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
    from rawtune.export.runs import write_task
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
        from rawtune.export.runs import export_run_onnx

        return export_run_onnx(run, out, quantize=quantize, opset=opset)
    adapter = has_adapter(run.adapter_dir)
    if not merge:
        src = run.adapter_dir if adapter else run.model_dir
        if not src.is_dir():
            raise RunDirError(f"{run_path}: nothing to export (no model/ or adapter/)")
        with atomic_dir(out) as tmp:
            shutil.copytree(src, tmp, dirs_exist_ok=True)
            write_task(run, tmp)
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
        write_task(run, tmp)
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
