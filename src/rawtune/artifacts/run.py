"""A finished run, loaded: its model (in whichever form `artifacts.formats` lists), tokenizer,
fine-tuning config, task and label space, and the task's own decode path on inputs. Prediction,
evaluation, serving, compression, continual learning and export all start from `load_run`."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rawtune.errors import ModelError, RunDirError

log = logging.getLogger("rawtune")
# a compressed run (and an ONNX export of a run) keeps its parent's fine-tuning config here: the task,
# the label kind and the data settings (windows) to use the model with
FINETUNE_CONFIG = "finetune.yaml"
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def finetune_config(run_path: str | os.PathLike) -> Path:
    """The fine-tuning config of a run: its FINETUNE_CONFIG (a compressed run), else config.yaml."""
    own = Path(run_path) / FINETUNE_CONFIG
    return own if own.is_file() else Path(run_path) / "config.yaml"


@dataclass
class LoadedRun:
    """One loaded run: its model with the tokenizer, task and label space to use it."""

    run_path: Path
    cfg: Any
    task: Any
    model: Any
    tokenizer: Any
    space: Any

    # --- inputs -------------------------------------------------------------------------------
    def example(self, item: Any, where: str) -> tuple[Any, str | None]:
        """(the task's example for `item`, the raw text its entities' offsets index, or None): the
        task parses its own inputs (a string, a list of words, a {'text', 'text_b'} object, a
        pair, a question...)."""
        return self.task.example(item, where), self.task.raw_text(item)

    def predict(self, items: Iterable[Any], *, batch_size: int = 32) -> list[dict[str, Any]]:
        """Predictions for strings (raw text: words and character offsets are found for you), lists
        of words (NER), text pairs, or documents ({"sentences": [text or words, ...]}, for a task that
        reads documents: one record {"sentences": [record, ...]} each, the sentences predicted in
        each other's context as the model was trained)."""
        examples, sources, owners = [], [], []
        for i, item in enumerate(items):
            document = self.task.reads_documents and isinstance(item, dict) and "sentences" in item
            for j, part in enumerate(item["sentences"]) if document else [(None, item)]:
                ex, src = self.example(part, "<input>")
                examples.append(replace(ex, doc=i) if document else ex)
                sources.append(src)
                owners.append((i, j))
        out: list[Any] = [None] * (owners[-1][0] + 1 if owners else 0)
        for (i, j), rec in zip(owners, self.predict_examples(examples, sources, batch_size)):
            if j is None:
                out[i] = rec
            else:
                out[i] = out[i] or {"sentences": []}
                out[i]["sentences"].append(rec)
        return [rec if rec is not None else {"sentences": []} for rec in out]

    def predict_examples(
        self, examples: list[Any], sources: list[str | None], batch_size: int
    ) -> list[dict[str, Any]]:
        """The task's records for `examples`; where a source text is given, the record (and each
        entity) carries its text."""
        from rawtune.tasks.base import Inference

        if not examples:
            return []
        out = self.task.predict(self.model, self.tokenizer, examples, self.space, Inference(batch_size))
        for rec, src in zip(out, sources):
            if src is not None:
                rec["text"] = src
                for ent in rec.get("entities", []):
                    ent["text"] = src[ent["start"] : ent["end"]]
        return out

    # --- files ---------------------------------------------------------------------------------
    def file_examples(self, path: str) -> Iterator[tuple[Any, str | None]]:
        """(example, source text) for every input of `path`: each non-blank line of a .txt file,
        else every example of a file the task reads (CoNLL, JSONL, CSV, TSV)."""
        if path.lower().endswith(".txt"):
            from rawtune.data.readers.text import text_lines

            for line in text_lines(path):
                ex, src = self.example(line.text, path)
                yield replace(ex, line=line.line), src
            return
        data = self.task.read(path, labeled=False)
        for ex in data.examples:
            yield ex, None


def default_device(device: str | None = None) -> str:
    """`device` ("cpu", "cuda", "cuda:N"); with none or "auto", the GPU when there is one, else the
    CPU. A device this machine does not have is refused here, before any model is loaded."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError):
        raise ModelError(f"device must be auto, cpu, cuda or cuda:N, not {device!r}") from None
    if kind == "cuda" and not torch.cuda.is_available():
        built = "a CUDA build" if torch.version.cuda else "a CPU-only build"
        raise ModelError(
            f"device {device!r}: this machine has no usable CUDA device (torch {torch.__version__}, "
            f"{built}); use cpu or auto"
        )
    return device


def load_run(
    path: str | os.PathLike,
    *,
    device: str | None = None,
    base: str | None = None,
    merged: bool = True,
    strict: bool = True,
    dtype: str | None = None,
) -> LoadedRun:
    """A finished run's model in eval mode on `device` (default: `default_device()`), weights cast
    to `dtype` ("bf16", "fp16", "fp32") when given: RUN/model/ when `merged` (or the run has no
    adapter), otherwise base + RUN/adapter/ (a run with no model/ always loads that way). `base`
    names the base model for an adapter; `strict`: refuse `base` for a run without an adapter.
    `path` may also be an ONNX export directory (`rawtune export --onnx`), which runs on the CPU."""
    loaded = _load(path, default_device(device), base, merged=merged, strict=strict)
    if dtype is not None:
        import torch

        from rawtune.artifacts.int8 import is_quantized

        if dtype not in DTYPES:
            raise ModelError(f"dtype must be one of {sorted(DTYPES)}, not {dtype!r}")
        if not isinstance(loaded.model, torch.nn.Module) or is_quantized(loaded.run_path / "model"):
            raise ModelError(f"{path}: an int8 or ONNX model keeps its own precision; dtype does not apply")
        loaded.model.to(getattr(torch, DTYPES[dtype]))
    return loaded


def decoded_as_written(cfg: Any, run_path: Path) -> Any:
    """A run whose config predates `task.decode` (rawtune before Viterbi decoding became the
    default) keeps the per-word argmax it was evaluated with, so it predicts as it always did."""
    import yaml

    written = yaml.safe_load(finetune_config(run_path).read_text()) or {}
    if "decode" not in type(cfg.task).model_fields or "decode" in (written.get("task") or {}):
        return cfg
    return cfg.model_copy(update={"task": cfg.task.model_copy(update={"decode": "argmax"})})


def _load(path: str | os.PathLike, device: str, base: str | None, *, merged: bool, strict: bool) -> LoadedRun:
    from rawtune.artifacts.onnx import is_onnx_dir
    from rawtune.runs.rundir import RunDir

    if is_onnx_dir(path):  # `rawtune export --onnx`: runs on the CPU through onnxruntime
        if base is not None:
            raise RunDirError(f"{path}: an ONNX export holds a whole model; base= does not apply")
        _on_cpu(path, "an ONNX model", device)
        return load_onnx_run(path)
    run = RunDir(Path(path))
    if RunDir.is_run(run.path) and is_onnx_dir(run.model_dir):  # `rawtune compress --onnx`
        if base is not None:
            raise RunDirError(f"{path}: its model is an ONNX export; base= does not apply")
        _on_cpu(path, "an ONNX model", device)
        return replace(load_onnx_run(run.model_dir), run_path=run.path)
    return _load_torch(path, device, base, merged=merged, strict=strict)


def _load_torch(
    path: str | os.PathLike, device: str, base: str | None, *, merged: bool, strict: bool
) -> LoadedRun:
    from rawtune.artifacts.adapters import has_adapter, head_labels
    from rawtune.artifacts.formats import load_model
    from rawtune.artifacts.int8 import is_quantized
    from rawtune.config.loader import load_config
    from rawtune.modeling.backbone import load_tokenizer
    from rawtune.runs.rundir import RunDir
    from rawtune.tasks.base import get_task

    run = RunDir(Path(path))
    has_model = (run.model_dir / "config.json").is_file()
    adapter = has_adapter(run.adapter_dir)
    if not RunDir.is_run(run.path) or not (has_model or adapter):
        seeds = sorted(Path(path).glob("seed-*/model"))
        hint = f"; a multi-seed output: use one of {[str(s.parent) for s in seeds]}" if seeds else ""
        raise RunDirError(
            f"{path}: not a finished rawtune finetune run (no model/config.json or adapter/){hint}"
        )
    if base is not None and not adapter and strict:
        raise RunDirError(f"{path}: base= needs a run with an adapter/ (this one saved a whole model)")
    cfg = decoded_as_written(load_config("finetune", file=finetune_config(run.path), require=False), run.path)
    task = get_task(cfg)
    merged = merged or task.needs_model_dir  # e.g. tokens the task added live in RUN/model/ only
    on_base = adapter and (base is not None or not merged or not has_model)
    model = load_model(run.adapter_dir if on_base else run.model_dir, task.auto_class_name, base=base)
    model = task.restore_model(model, str(run.adapter_dir if on_base else run.model_dir))
    if is_quantized(run.model_dir):
        device = _on_cpu(path, "a dynamic int8 model", device)
    model.to(device)
    model.eval()
    tokenizer = load_tokenizer(str(run.model_dir if has_model else run.adapter_dir))
    return LoadedRun(run.path, cfg, task, model, tokenizer, task.head_space(head_labels(model)))


def _on_cpu(path: str | os.PathLike, what: str, device: str) -> str:
    """int8 and ONNX models run on the CPU whatever device was asked for; a log line says so."""
    if device != "cpu":
        log.info("%s: %s runs on the CPU only; loading it there (not on %s)", path, what, device)
    return "cpu"


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
