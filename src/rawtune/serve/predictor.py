"""`Predictor`: fine-tuned runs loaded for prediction (by `rawtune.artifacts.run.load_run`), with
the task's own decode path (the one evaluation uses), on strings, pre-split words, or whole files
streamed in chunks.

One Predictor can hold several runs under names (`from_runs`, `add`) — different tasks, label sets
and tuning methods — and each request picks one (`adapter=`; the first loaded is the default). Runs
tuned from the same base hold its weights once: every tensor equal to one already loaded is shared
(`serve/sharing.py`)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from rawtune.artifacts.loaded import LoadedRun, default_device
from rawtune.artifacts.run import load_run
from rawtune.errors import DataError, ModelError

log = logging.getLogger("rawtune")


class Predictor:
    def __init__(self, entries: Mapping[str, LoadedRun], device: str, *, dtype: str | None = None):
        from rawtune.serve.sharing import TensorPool

        self.device, self.dtype = device, dtype
        self._entries: dict[str, LoadedRun] = {}
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
        saved); bf16 pays on CPUs with AVX-512 BF16 or AMX, and on GPUs. "auto" (the CLI's default)
        casts to bf16 where `modeling.precision.resolve` finds it faster on the model's device. `device`: "auto" (the
        default: a GPU when there is one), "cpu", "cuda" or "cuda:N"; int8 and ONNX models stay on
        the CPU (a log line says so). On CUDA in fp32 the outputs equal the CPU's within 1e-4 (the
        README's "GPUs and several processes")."""
        device = default_device(device)
        entry = load_run(path, device=device, base=base, merged=True, strict=True, dtype=dtype)
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
        pred = cls({}, default_device(device), dtype=dtype)
        for name, path in runs.items():
            pred._check_name(name)
            pred._put(
                name, load_run(path, device=pred.device, base=base, merged=merged, strict=False, dtype=dtype)
            )
        return pred

    def add(
        self, name: str, path: str | os.PathLike, base: str | None = None, *, merged: bool = False
    ) -> LoadedRun:
        """Load one more run under `name` (loaded as in `from_runs`; `base` needs a run with an
        adapter/)."""
        self._check_name(name)
        strict = base is not None
        entry = load_run(path, device=self.device, base=base, merged=merged, strict=strict, dtype=self.dtype)
        self._put(name, entry)
        return entry

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ModelError(f"a run's name must be a non-empty string, not {name!r}")
        if name in self._entries:
            raise ModelError(f"a run named {name!r} is already loaded (from {self._entries[name].run_path})")

    def _put(self, name: str, entry: LoadedRun) -> None:
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

    def entry(self, adapter: str | None = None) -> LoadedRun:
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
        return self.entry(adapter).predict(items, batch_size=batch_size)

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
        input_format: str | None = None,
        output_format: str = "jsonl",
    ) -> int:
        """Stream `path` through the run named `adapter` (the default when None) to `output`, one
        record per input with its `source` (file:line). Returns the number of records.

        The input's format is `input_format`, else found from its name and content (.txt: one text
        per line; CoNLL, JSONL, CSV, TSV as the task reads them; `LoadedRun.file_examples`). It is
        never read whole: inputs are taken `chunk` at a time (default 64 batches; a chunk grows to
        the end of its last document, so a document is predicted whole, as evaluation reads it),
        batched by length inside a chunk, and each chunk's records are made durable as JSON lines
        in `output`.partial before the next is computed. `output` appears only when complete: the
        partial file renamed (`output_format` jsonl), or converted to conll (NER) or csv
        (classification) (`serve.writers`). `resume=True` continues an interrupted `output`.partial
        (a torn last line is dropped; the chunk the interruption fell in is predicted again and its
        records after those kept are added, so the result equals an uninterrupted run with the same
        settings byte for byte); without it an existing partial file is refused."""
        from rawtune.data.readers.inputs import input_format as detect
        from rawtune.serve.partial import PartialJsonl
        from rawtune.serve.writers import converter

        entry = self.entry(adapter)
        if not os.path.isfile(path):
            raise DataError(
                "is a directory, not a file" if os.path.isdir(path) else "no such file", file=path
            )
        fmt = detect(path, input_format)
        if output_format not in entry.task.output_formats:
            formats = ", ".join(entry.task.output_formats)
            raise DataError(f"--format {output_format}: a {entry.task.name} run writes {formats}")
        convert = converter(output_format, path, fmt, provenance_key(entry.task))
        with PartialJsonl(output, resume=resume) as out:
            if out.resumed:
                log.info("resuming %s: %d records kept, continuing after them", out.path, out.count)
            n = self._stream(entry, entry.file_examples(path, fmt), out, chunk or default_chunk(batch_size),
                             batch_size, progress)  # fmt: skip
            out.commit(convert)
        return n

    def _stream(
        self, entry: LoadedRun, examples: Any, out: Any, chunk: int, batch_size: int, progress: bool
    ) -> int:
        """Predict `examples` chunk by chunk into `out` (the partial file), after the records it holds."""
        from tqdm.auto import tqdm

        from rawtune.serve.partial import check_record, document_chunks

        key, done, at = provenance_key(entry.task), out.count, 0
        document = (lambda pair: pair[0].doc) if entry.task.keeps_documents else None
        with tqdm(unit="ex", disable=not progress, desc="predict", initial=done) as bar:
            for block in document_chunks(examples, chunk, document):
                for i, (ex, _) in enumerate(block):
                    check_record(out, at + i, _source(ex), key)
                if at + len(block) > done:
                    recs = entry.predict_examples([e for e, _ in block], [s for _, s in block], batch_size)
                    for (ex, _), rec in zip(block, recs):
                        rec[key] = _source(ex)
                    fresh = recs[max(0, done - at) :]
                    out.write([json.dumps(rec, ensure_ascii=False) for rec in fresh])
                    bar.update(len(fresh))
                at += len(block)
        if at < done:
            raise DataError(
                f"{out.path} holds {done} records but the input has only {at}: it is not this "
                "input's output; delete it to start over"
            )
        return at


def onnx_predictor(path: str | os.PathLike, *, threads: int | None = None) -> Predictor:
    """A one-run `Predictor` over an ONNX export (CPU); `threads`: onnxruntime's intra-op threads."""
    from rawtune.artifacts.finetuned import load_onnx_run

    return Predictor({"default": load_onnx_run(path, threads=threads)}, "cpu")


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
    return "input" if task.generative else "source"
