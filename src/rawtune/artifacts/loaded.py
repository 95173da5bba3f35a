"""A finished run, loaded (`LoadedRun`): its model, tokenizer, fine-tuning config, task and label
space, and the task's own decode path on inputs — whatever kind of run it came from
(`artifacts.kinds`). Also the names every loader shares: where a run keeps its fine-tuning config,
and the default device."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

# a compressed run (and an ONNX export of a run, and a continual run) keeps the fine-tuning config it
# was trained with here: the task, the label kind and the data settings (windows) to use the model with
FINETUNE_CONFIG = "finetune.yaml"


def finetune_config(run_path: str | os.PathLike) -> Path:
    """The fine-tuning config of a run: its FINETUNE_CONFIG (a compressed run), else config.yaml."""
    own = Path(run_path) / FINETUNE_CONFIG
    return own if own.is_file() else Path(run_path) / "config.yaml"


def default_device(device: str | None = None) -> str:
    """`device` ("cpu", "cuda", "cuda:N"); with none or "auto", the GPU when there is one, else the
    CPU. A device this machine does not have is refused here, before any model is loaded."""
    import torch

    from rawtune.errors import ModelError

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


@dataclass
class LoadedRun:
    """One loaded run: its model with the tokenizer, task and label space to use it. `kind` names
    the kind of run it is (`artifacts.kinds`: finetune, onnx, setfit, pet, neighbours, zeroshot,
    pretrained)."""

    run_path: Path
    cfg: Any
    task: Any
    model: Any
    tokenizer: Any
    space: Any
    kind: str = "finetune"

    # --- inputs -------------------------------------------------------------------------------
    def example(self, item: Any, where: str) -> tuple[Any, str | None]:
        """(the task's example for `item`, the raw text its entities' offsets index, or None): the
        task parses its own inputs (a string, a list of words, a {'text', 'text_b'} object, a
        pair, a question...)."""
        return self.task.example(item, where), self.task.raw_text(item)

    def predict(self, items: Iterable[Any], *, batch_size: int = 32) -> list[dict[str, Any]]:
        """Predictions for strings (raw text: words and character offsets are found for you), lists
        of words (NER), text pairs, or documents ({"sentences": [text or words, ...]}, for a task that
        keeps documents: one record {"sentences": [record, ...]} each, the sentences predicted in
        each other's context as the model was trained)."""
        examples, sources, owners = [], [], []
        n = 0
        for i, item in enumerate(items):
            n = i + 1
            document = self.task.keeps_documents and isinstance(item, dict) and "sentences" in item
            for j, part in enumerate(item["sentences"]) if document else [(None, item)]:
                ex, src = self.example(part, "<input>")
                examples.append(replace(ex, doc=i) if document else ex)
                sources.append(src)
                owners.append((i, j))
        out: list[Any] = [None] * n
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
    def file_examples(self, path: str, input_format: str | None = None) -> Iterator[tuple[Any, str | None]]:
        """(example, source text) for every input of `path`, one at a time, in file order. Its format
        is `input_format`, else found from its name and content (`data.readers.inputs`): plain text
        (each non-blank line; for a task that keeps documents, the paragraphs between blank lines are
        its documents), or a file the task streams (CoNLL, JSONL, CSV, TSV) or reads its own way."""
        from rawtune.data.readers.inputs import input_format as detect
        from rawtune.data.readers.inputs import text_inputs
        from rawtune.errors import DataError

        fmt = detect(path, input_format)
        if fmt == "txt":
            for line, doc in text_inputs(path, documents=self.task.keeps_documents):
                ex, src = self.example(line.text, path)
                ex = replace(ex, line=line.line) if doc is None else replace(ex, line=line.line, doc=doc)
                yield ex, src
            return
        formats = self.task.input_formats
        if formats and fmt not in formats:
            read = ", ".join(("txt", *formats))
            raise DataError(
                f"reads as {fmt}, which a {self.task.name} run does not predict on (it reads {read}); "
                "name the format with --input-format if that is wrong",
                file=path,
            )
        for ex in self.task.read_inputs(path, fmt):
            yield ex, None
