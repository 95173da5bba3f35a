"""`Predictor`: fine-tuned runs loaded for prediction, with the task's own decode path (the one
evaluation uses), on strings, pre-split words, or whole files streamed in chunks.

One Predictor can hold several runs under names (`from_runs`, `add`) — different tasks, label sets
and tuning methods — and each request picks one (`adapter=`; the first loaded is the default). Runs
tuned from the same base hold its weights once: every tensor equal to one already loaded is shared
(`serve/sharing.py`)."""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rawtune.errors import DataError, ModelError, RunDirError

log = logging.getLogger("rawtune")


@dataclass
class Entry:
    """One loaded run: its model with the tokenizer, task and label space to use it."""

    run_path: Path
    cfg: Any
    task: Any
    model: Any
    tokenizer: Any
    space: Any

    # --- inputs -------------------------------------------------------------------------------
    def example(self, item: Any, where: str) -> Any:
        from rawtune.data.readers.labeled import TextExample, TokenExample
        from rawtune.data.words import split_words

        if hasattr(self.task, "example"):  # qa, relations, generation: the task parses its own inputs
            return self.task.example(item, where), None
        if self.task.name == "ner":
            if isinstance(item, str):
                words = split_words(item)
                return TokenExample(
                    tokens=[w for w, _, _ in words],
                    tags=None,
                    file=where,
                    line=0,
                    spans=[(s, e) for _, s, e in words],
                ), item
            if isinstance(item, (list, tuple)) and all(isinstance(t, str) for t in item):
                return TokenExample(tokens=list(item), tags=None, file=where, line=0), None
            raise DataError(f"NER input must be a string or a list of words, not {type(item).__name__}")
        if isinstance(item, str):
            return TextExample(text=item, label=None, file=where, line=0), None
        if isinstance(item, dict) and "text" in item:
            return TextExample(
                text=item["text"], label=None, file=where, line=0, text_b=item.get("text_b")
            ), None
        if isinstance(item, (list, tuple)) and len(item) == 2:
            return TextExample(text=item[0], label=None, file=where, line=0, text_b=item[1]), None
        raise DataError(f"input must be a string, a {{'text', 'text_b'}} object or a pair, not {item!r:.60}")

    def run(self, examples: list[Any], sources: list[str | None], batch_size: int) -> list[dict[str, Any]]:
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
        if path.lower().endswith(".txt"):
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    text = line.rstrip("\n")
                    if text.strip():
                        ex, src = self.example(text, path)
                        yield _at_line(ex, n), src
            return
        data = self.task.read(path, labeled=False)
        for ex in data.examples:
            yield ex, None


class Predictor:
    def __init__(self, entries: Mapping[str, Entry], device: str, *, dtype: str | None = None):
        from rawtune.serve.sharing import TensorPool

        self.device, self.dtype = device, dtype
        self._entries: dict[str, Entry] = {}
        self._pool = TensorPool()
        for name, entry in entries.items():
            self._put(name, entry)

    @classmethod
    def from_run(
        cls,
        path: str | os.PathLike,
        *,
        device: str | None = None,
        base: str | None = None,
        dtype: str | None = None,
    ) -> Predictor:
        """The run's model, named "default": RUN/model/, or the base model + RUN/adapter/ for
        prompt/prefix runs (or whenever `base` names the base model to put the adapter on; a
        different base is refused). `dtype` ("bf16", "fp16", "fp32") casts the weights (default: as
        saved); bf16 pays on CPUs with AVX-512 BF16 or AMX, and on GPUs."""
        device = _device(device)
        entry = _load(path, device, base, merged=True, strict=True, dtype=dtype)
        return cls({"default": entry}, device, dtype=dtype)

    @classmethod
    def from_runs(
        cls,
        runs: Mapping[str, str | os.PathLike],
        *,
        device: str | None = None,
        base: str | None = None,
        merged: bool = False,
        dtype: str | None = None,
    ) -> Predictor:
        """Several runs under names; the first is the default. A run with an adapter (LoRA, IA3,
        prompt) loads as its base model (the one recorded, or `base`) + the adapter, so runs from
        one base share all of its weights; `merged=True` loads RUN/model/ where a run has one
        (faster, but the merged layers are each run's own). Runs that saved a whole model ignore
        `base`. `dtype` as in `from_run`, for every run (and those `add`ed later)."""
        if not runs:
            raise ModelError("from_runs needs at least one run: {name: run directory}")
        pred = cls({}, _device(device), dtype=dtype)
        for name, path in runs.items():
            pred._check_name(name)
            pred._put(name, _load(path, pred.device, base, merged=merged, strict=False, dtype=dtype))
        return pred

    def add(
        self, name: str, path: str | os.PathLike, base: str | None = None, *, merged: bool = False
    ) -> Entry:
        """Load one more run under `name` (loaded as in `from_runs`; `base` needs a run with an
        adapter/)."""
        self._check_name(name)
        entry = _load(path, self.device, base, merged=merged, strict=base is not None, dtype=self.dtype)
        self._put(name, entry)
        return entry

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ModelError(f"a run's name must be a non-empty string, not {name!r}")
        if name in self._entries:
            raise ModelError(f"a run named {name!r} is already loaded (from {self._entries[name].run_path})")

    def _put(self, name: str, entry: Entry) -> None:
        self._check_name(name)
        saved = self._pool.share(entry.model)
        self._entries[name] = entry
        if len(self._entries) > 1:
            stats = self.memory()
            log.info(
                "predictor: %r (%s) from %s shares %.1f MB with the runs loaded before it; "
                "%d runs hold %.1f MB (%.1f MB loaded apart)",
                name, entry.task.name, entry.run_path, saved / 2**20, len(self._entries),
                stats["stored"] / 2**20, stats["separate"] / 2**20,
            )  # fmt: skip

    # --- which run ------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """The loaded runs' names, in load order; the first is the default."""
        return list(self._entries)

    def entry(self, adapter: str | None = None) -> Entry:
        """The run named `adapter` (the default when None)."""
        if adapter is None:
            if not self._entries:
                raise ModelError("no run is loaded")
            return next(iter(self._entries.values()))
        try:
            return self._entries[adapter]
        except KeyError:
            raise ModelError(f"no run named {adapter!r} is loaded; loaded: {self.names}") from None

    def memory(self) -> dict[str, Any]:
        """Bytes of the parameters and buffers: per run (`models`), all runs loaded apart
        (`separate`), as held now (`stored`), and the bytes sharing saves (`shared`)."""
        from rawtune.serve.sharing import memory

        return memory({name: e.model for name, e in self._entries.items()})

    def shared_bytes(self) -> int:
        """Bytes saved by holding equal weights once."""
        return self.memory()["shared"]

    # the default run's parts (what a one-run Predictor always had)
    run_path = property(lambda self: self.entry().run_path)
    cfg = property(lambda self: self.entry().cfg)
    task = property(lambda self: self.entry().task)
    model = property(lambda self: self.entry().model)
    tokenizer = property(lambda self: self.entry().tokenizer)
    space = property(lambda self: self.entry().space)

    # --- prediction ----------------------------------------------------------------------------
    def predict(
        self, items: Iterable[Any], *, batch_size: int = 32, adapter: str | None = None
    ) -> list[dict[str, Any]]:
        """Predictions of the run named `adapter` (the default when None) for strings (raw text:
        words and character offsets are found for you), lists of words (NER), or text pairs."""
        entry = self.entry(adapter)
        pairs = [entry.example(item, "<input>") for item in items]
        return entry.run([ex for ex, _ in pairs], [src for _, src in pairs], batch_size)

    def predict_file(
        self,
        path: str,
        output: str,
        *,
        chunk: int | None = None,
        batch_size: int = 32,
        progress: bool = True,
        adapter: str | None = None,
        resume: bool = False,
    ) -> int:
        """Stream `path` (.txt: one text per line; CoNLL/JSONL/CSV/TSV as the task reads them) to
        JSON lines in `output`, one record per input with its `source` (file:line), using the run
        named `adapter` (the default when None). Returns the number of records in `output`.

        Inputs are taken `chunk` at a time (default 64 batches), batched by length inside a chunk,
        and each chunk's records are made durable in `output`.partial before the next is computed;
        `output` appears (renamed) only when complete. `resume=True` continues an interrupted
        `output`.partial (a torn last line is dropped, that many inputs are skipped, and the chunks
        stay where the first run put them, so the result equals an uninterrupted run with the same
        settings); without it an existing partial file is refused."""
        from tqdm.auto import tqdm

        from rawtune.serve.partial import PartialJsonl

        entry = self.entry(adapter)
        if not os.path.isfile(path):
            raise DataError("no such file", file=path)
        chunk = chunk or default_chunk(batch_size)
        key = provenance_key(entry.task)
        with PartialJsonl(output, resume=resume) as out:
            examples = entry.file_examples(path)
            if out.resumed:
                log.info("resuming %s: %d records kept, continuing after them", out.path, out.count)
                _skip(examples, out, key)
            with tqdm(unit="ex", disable=not progress, desc="predict", initial=out.count) as bar:
                n = out.count
                for block in _chunks(examples, chunk, first=chunk - n % chunk):
                    recs = entry.run([e for e, _ in block], [s for _, s in block], batch_size)
                    for (ex, _), rec in zip(block, recs):
                        rec[key] = _source(ex)
                    out.write([json.dumps(rec, ensure_ascii=False) for rec in recs])
                    n += len(block)
                    bar.update(len(block))
            out.commit()
        return n


def default_chunk(batch_size: int) -> int:
    """Inputs encoded and length-sorted together: 64 batches, where grouping by length keeps nearly
    all of its gain (CoNLL-2003 dev, batch 32: 69 % of the padded tokens are real with chunks of 256,
    82 % with 2,048, 83 % sorting the whole set)."""
    return max(64 * batch_size, 256)


def _source(ex: Any) -> str:
    return f"{ex.file}:{ex.line}"


def provenance_key(task: Any) -> str:
    """The record key of an input's file:line: `source`, or `input` where a generation record's
    `source` is the text it was generated from."""
    return "input" if getattr(task, "generative", False) else "source"


def _skip(examples: Iterator[tuple[Any, str | None]], out: Any, key: str = "source") -> None:
    """Consume the inputs `out` already holds records for, checking that its first and last records
    came from the same inputs (file name and line)."""
    for i in range(out.count):
        ex = next(examples, None)
        if ex is None:
            raise DataError(
                f"{out.path} holds {out.count} records but the input has only {i}: it is not this "
                "input's output; delete it to start over"
            )
        for k, rec in ((0, out.first), (out.count - 1, out.last)):
            if i == k and not _same_source(rec.get(key), _source(ex[0])):
                raise DataError(
                    f"{out.path} does not continue this input: its record {k + 1} is from "
                    f"{rec.get(key)!r}, input {k + 1} is {_source(ex[0])}; delete it to start over"
                )


def _same_source(a: Any, b: str) -> bool:
    """Same line of a file of the same name (the path may be spelled differently on resume)."""
    if not isinstance(a, str) or ":" not in a:
        return False
    (fa, la), (fb, lb) = a.rsplit(":", 1), b.rsplit(":", 1)
    return la == lb and os.path.basename(fa) == os.path.basename(fb)


def _chunks(items: Iterator[Any], size: int, *, first: int) -> Iterator[list[Any]]:
    """`first` items, then `size` at a time."""
    from rawtune.tasks.features import chunked

    head = list(itertools.islice(items, first))
    if head:
        yield head
    if len(head) == first:
        yield from chunked(items, size)


def _at_line(ex: Any, line: int) -> Any:
    import dataclasses

    return dataclasses.replace(ex, line=line)


def _device(device: str | None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def _load(
    path: str | os.PathLike,
    device: str,
    base: str | None,
    *,
    merged: bool,
    strict: bool,
    dtype: str | None = None,
) -> Entry:
    """A finished run's model in eval mode on `device` (weights cast to `dtype` when given):
    RUN/model/ when `merged` (or the run has no adapter), otherwise base + RUN/adapter/ (a run with
    no model/ always loads that way). `base` names the base model for an adapter; `strict`: refuse
    `base` for a run without an adapter."""
    entry = _load_entry(path, device, base, merged=merged, strict=strict)
    if dtype is not None:
        import torch

        if dtype not in _DTYPES:
            raise ModelError(f"dtype must be one of {sorted(_DTYPES)}, not {dtype!r}")
        if not isinstance(entry.model, torch.nn.Module) or _is_int8(entry.run_path):
            raise ModelError(f"{path}: an int8 or ONNX model keeps its own precision; dtype does not apply")
        entry.model.to(getattr(torch, _DTYPES[dtype]))
    return entry


_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def _is_int8(run_path: Path) -> bool:
    from rawtune.compress.quantize import is_quantized

    return is_quantized(run_path / "model")


def _load_entry(
    path: str | os.PathLike, device: str, base: str | None, *, merged: bool, strict: bool
) -> Entry:
    from rawtune.config.loader import load_config
    from rawtune.data.labels import LabelSpace
    from rawtune.export.onnx_runtime import is_onnx_dir, load_onnx_dir
    from rawtune.modeling.backbone import load_tokenizer
    from rawtune.modeling.heads import load_task_model
    from rawtune.runs.rundir import RunDir
    from rawtune.tasks.base import get_task
    from rawtune.tuning.io import has_adapter, head_labels, load_adapter

    if is_onnx_dir(path):  # `rawtune export --onnx`: runs on the CPU through onnxruntime
        if base is not None:
            raise RunDirError(f"{path}: an ONNX export holds a whole model; base= does not apply")
        return load_onnx_dir(path)
    run = RunDir(Path(path))
    if RunDir.is_run(run.path) and is_onnx_dir(run.model_dir):  # `rawtune compress --onnx`
        if base is not None:
            raise RunDirError(f"{path}: its model is an ONNX export; base= does not apply")
        return replace(load_onnx_dir(run.model_dir), run_path=run.path)
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
    own = run.path / "finetune.yaml"  # a compressed run keeps its parent's fine-tuning config there
    cfg = load_config("finetune", file=own if own.is_file() else run.config_path, require=False)
    task = get_task(cfg)
    merged = merged or getattr(task, "needs_model_dir", False)  # relations: the markers' embeddings
    if adapter and (base is not None or not merged or not has_model):
        model = load_adapter(run.adapter_dir, base)
    else:
        model = load_task_model(str(run.model_dir), task.auto_class_name)
    if hasattr(task, "restore_model"):  # ner: a CRF layer outside the architecture
        model = task.restore_model(model, str(run.model_dir if has_model else run.adapter_dir))
    from rawtune.compress.quantize import is_quantized

    if is_quantized(run.model_dir) and device != "cpu":
        log.info("%s: a dynamic int8 model runs on the CPU only; loading it there", path)
        device = "cpu"
    model.to(device)
    model.eval()
    tokenizer = load_tokenizer(str(run.model_dir if has_model else run.adapter_dir))
    if getattr(task, "generative", False):
        space = LabelSpace(())  # text in, text out (the config's default id2label means nothing)
    else:
        id2label = head_labels(model)
        if hasattr(task, "head_space"):  # relations: the head's 2 x L outputs name L relations
            space = task.head_space(id2label)
        else:
            space = LabelSpace(tuple(id2label[i] for i in sorted(id2label)))
    return Entry(run.path, cfg, task, model, tokenizer, space)
