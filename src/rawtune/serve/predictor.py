"""`Predictor`: a fine-tuned run loaded for prediction, with the task's own decode path (the one
evaluation uses), on strings, pre-split words, or whole files streamed in chunks."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rawtune.errors import DataError, RunDirError


class Predictor:
    def __init__(self, run_path: Path, cfg: Any, task: Any, model: Any, tokenizer: Any, space: Any):
        self.run_path, self.cfg, self.task = run_path, cfg, task
        self.model, self.tokenizer, self.space = model, tokenizer, space

    @classmethod
    def from_run(
        cls, path: str | os.PathLike, *, device: str | None = None, base: str | None = None
    ) -> Predictor:
        """The run's model: RUN/model/, or the base model + RUN/adapter/ for prompt/prefix runs (or
        whenever `base` names the base model to put the adapter on; a different base is refused)."""
        import torch

        from rawtune.config.loader import load_config
        from rawtune.data.labels import LabelSpace
        from rawtune.modeling.backbone import load_tokenizer
        from rawtune.modeling.heads import load_task_model
        from rawtune.runs.rundir import RunDir
        from rawtune.tasks.base import get_task
        from rawtune.tuning.io import has_adapter, head_labels, load_adapter

        run = RunDir(Path(path))
        merged = (run.model_dir / "config.json").is_file()
        adapter = has_adapter(run.adapter_dir)
        if not RunDir.is_run(run.path) or not (merged or adapter):
            seeds = sorted(Path(path).glob("seed-*/model"))
            hint = f"; a multi-seed output: use one of {[str(s.parent) for s in seeds]}" if seeds else ""
            raise RunDirError(
                f"{path}: not a finished rawtune finetune run (no model/config.json or adapter/){hint}"
            )
        if base is not None and not adapter:
            raise RunDirError(f"{path}: base= needs a run with an adapter/ (this one saved a whole model)")
        cfg = load_config("finetune", file=run.config_path, require=False)
        task = get_task(cfg)
        if adapter and (base is not None or not merged):
            model = load_adapter(run.adapter_dir, base)
        else:
            model = load_task_model(str(run.model_dir), task.auto_class_name)
        model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model.eval()
        tokenizer = load_tokenizer(str(run.model_dir if merged else run.adapter_dir))
        id2label = head_labels(model)
        space = LabelSpace(tuple(id2label[i] for i in sorted(id2label)))
        return cls(run.path, cfg, task, model, tokenizer, space)

    # --- inputs -------------------------------------------------------------------------------
    def _example(self, item: Any, where: str) -> Any:
        from rawtune.data.readers.labeled import TextExample, TokenExample
        from rawtune.data.words import split_words

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

    def predict(self, items: Iterable[Any], *, batch_size: int = 32) -> list[dict[str, Any]]:
        """Predictions for strings (raw text: words and character offsets are found for you),
        lists of words (NER), or text pairs."""
        pairs = [self._example(item, "<input>") for item in items]
        return self._run([ex for ex, _ in pairs], [src for _, src in pairs], batch_size)

    def _run(self, examples: list[Any], sources: list[str | None], batch_size: int) -> list[dict[str, Any]]:
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

    # --- files --------------------------------------------------------------------------------
    def _file_examples(self, path: str) -> Iterator[tuple[Any, str | None]]:
        if path.lower().endswith(".txt"):
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    text = line.rstrip("\n")
                    if text.strip():
                        ex, src = self._example(text, path)
                        yield _at_line(ex, n), src
            return
        data = self.task.read(path, labeled=False)
        for ex in data.examples:
            yield ex, None

    def predict_file(
        self, path: str, output: str, *, chunk: int = 256, batch_size: int = 32, progress: bool = True
    ) -> int:
        """Stream `path` (.txt: one text per line; CoNLL/JSONL/CSV/TSV as the task reads them) to
        JSON lines in `output`, `chunk` examples at a time; the output appears only when complete."""
        from tqdm.auto import tqdm

        from rawtune.tasks.features import chunked

        if not os.path.isfile(path):
            raise DataError("no such file", file=path)
        tmp = f"{output}.tmp-{os.getpid()}"
        n = 0
        try:
            with (
                open(tmp, "w", encoding="utf-8") as out,
                tqdm(unit="ex", disable=not progress, desc="predict") as bar,
            ):
                for block in chunked(self._file_examples(path), chunk):
                    recs = self._run([e for e, _ in block], [s for _, s in block], batch_size)
                    for (ex, _), rec in zip(block, recs):
                        rec["source"] = f"{ex.file}:{ex.line}"
                        out.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    n += len(block)
                    bar.update(len(block))
            os.replace(tmp, output)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return n


def _at_line(ex: Any, line: int) -> Any:
    import dataclasses

    return dataclasses.replace(ex, line=line)
