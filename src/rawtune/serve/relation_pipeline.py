"""Relation extraction on raw text: a rawtune NER run finds the mentions in each line, and a
relations run classifies every candidate pair (`rawtune predict RE_RUN --ner NER_RUN --input
raw.txt`).

Candidates are the ordered pairs (head, tail) of distinct, non-overlapping mentions of a line
whose (head type, tail type) occurs in the relations run's training data (its
`data_stats.json`; every pair when the run has none, or with `all_pairs=True`). A pair whose
mentions lie too far apart for the model's window (`data.max_length`) is skipped and counted.
Each record holds the line, the NER entities, and the relations found — pairs predicted as the
no-relation label are left out unless `keep_none=True` — each with the head's and tail's text,
type and character offsets into the line (`line[start:end] == text`).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rawtune.data.readers.text import Document, text_lines
from rawtune.errors import DataError, ModelError

log = logging.getLogger("rawtune")


class RelationPipeline:
    def __init__(self, relations: Any, ner: Any, *, all_pairs: bool = False, keep_none: bool = False):
        """`relations`, `ner`: `Predictor`s of a relations run and a NER run."""
        from rawtune.tasks.relations import RelationTask

        if not isinstance(relations.task, RelationTask):
            raise ModelError(f"{relations.run_path} is a {relations.task.name} run, not a relations run")
        if not ner.task.entities:
            raise ModelError(f"--ner {ner.run_path} is a {ner.task.name} run, not a NER run")
        self.re, self.ner, self.keep_none = relations, ner, keep_none
        self.type_pairs = None if all_pairs else _trained_type_pairs(Path(relations.run_path))
        self.skipped = 0  # candidate pairs too far apart for the window
        self._warned: set[str] = set()

    @classmethod
    def from_runs(cls, relations: str, ner: str, *, device: str | None = None, **kw: Any) -> RelationPipeline:
        from rawtune.serve.predictor import Predictor

        return cls(Predictor.from_run(relations, device=device), Predictor.from_run(ner, device=device), **kw)

    def candidates(self, text: str, entities: list[dict[str, Any]], where: str, line: int) -> list[Any]:
        from rawtune.data.readers.relations import Entity, RelationExample

        out = []
        self._check_types(entities)
        for h, t in itertools.permutations(entities, 2):
            if h["start"] < t["end"] and t["start"] < h["end"]:
                continue
            if self.type_pairs is not None and (h["type"], t["type"]) not in self.type_pairs:
                continue
            head, tail = Entity(h["start"], h["end"], h["type"]), Entity(t["start"], t["end"], t["type"])
            out.append(RelationExample(text, head, tail, None, where, line))
        return out

    def _check_types(self, entities: list[dict[str, Any]]) -> None:
        """Warn once per NER type that no trained type pair has: its mentions pair with nothing."""
        if self.type_pairs is None:
            return
        known = {k for pair in self.type_pairs for k in pair}
        for kind in {e["type"] for e in entities} - known - self._warned:
            self._warned.add(kind)
            log.warning(
                "NER type %r never occurs in the relations run's training data (types: %s): its mentions "
                "are in no candidate pair (--all-pairs pairs them, with untyped markers)",
                kind,
                sorted(k for k in known if k),
            )

    def run(self, lines: list[Document], batch_size: int = 32) -> list[dict[str, Any]]:
        from rawtune.tasks.base import Inference
        from rawtune.tasks.relations import mention

        found = self.ner.predict([ln.text for ln in lines], batch_size=batch_size)
        pairs, owner = [], []
        for k, (ln, rec) in enumerate(zip(lines, found)):
            cands = self.candidates(ln.text, rec["entities"], ln.source, ln.line)
            pairs += cands
            owner += [k] * len(cands)
        e = self.re.entry()
        probs = e.task.scores(
            e.model, e.tokenizer, pairs, e.space, Inference(batch_size), skip_long=True
        ).probs
        out = [
            {"text": ln.text, "entities": rec["entities"], "relations": []} for ln, rec in zip(lines, found)
        ]
        labels, none = e.space.labels, e.task.no_relation
        for ex, k, row in zip(pairs, owner, probs):
            if row[0] != row[0]:  # NaN: too far apart for the window
                self.skipped += 1
                continue
            best = int(row.argmax())
            if labels[best] == none and not self.keep_none:
                continue
            out[k]["relations"].append(
                {
                    "head": mention(ex, ex.head),
                    "tail": mention(ex, ex.tail),
                    "label": labels[best],
                    "score": round(float(row[best]), 6),
                }
            )
        return out

    def predict(self, texts: list[str], *, batch_size: int = 32) -> list[dict[str, Any]]:
        for i, t in enumerate(texts):
            if not isinstance(t, str) or not t.strip():
                raise DataError(f"input {i}: expected a non-empty string, not {t!r:.40}")
        return self.run([Document(t, "<input>", 0) for t in texts], batch_size)

    def predict_file(
        self, path: str, output: str, *, batch_size: int = 32, progress: bool = True, resume: bool = False
    ) -> int:
        """One record per non-blank line of the text file `path`, with its `source` (file:line),
        streamed to JSON lines as `Predictor.predict_file` does (OUTPUT.partial, `resume`)."""
        from tqdm.auto import tqdm

        from rawtune.serve.partial import PartialJsonl, chunks, skip_done
        from rawtune.serve.predictor import default_chunk

        if not os.path.isfile(path):
            raise DataError("no such file", file=path)
        chunk = default_chunk(batch_size)
        with PartialJsonl(output, resume=resume) as out:
            lines = _lines(path)
            if out.resumed:
                skip_done(lines, out, _source)
            n = out.count
            with tqdm(unit="line", disable=not progress, desc="predict", initial=n) as bar:
                for block in chunks(lines, chunk, first=chunk - n % chunk):
                    recs = self.run(block, batch_size)
                    for ln, rec in zip(block, recs):
                        rec["source"] = _source(ln)
                    out.write([json.dumps(r, ensure_ascii=False) for r in recs])
                    n += len(block)
                    bar.update(len(block))
            out.commit()
        if self.skipped:
            log.warning(
                "%d candidate pairs were too far apart for data.max_length and were skipped", self.skipped
            )
        return n


def _lines(path: str) -> Iterator[Document]:
    if not path.lower().endswith(".txt"):
        raise DataError(
            "the pipeline mode reads plain text (.txt): one sentence or document per line", file=path
        )
    return text_lines(path)


def _source(line: Document) -> str:
    return f"{line.source}:{line.line}"


def _trained_type_pairs(run: Path) -> set[tuple[str | None, str | None]] | None:
    """(head type, tail type) pairs of the run's training data, from RUN/data_stats.json."""
    stats = run / "data_stats.json"
    if not stats.is_file():
        return None
    pairs = json.loads(stats.read_text()).get("train", {}).get("entity_type_pairs")
    if not pairs:
        return None
    out = set()
    for key in pairs:
        h, t = key.split(" -> ")
        out.add((None if h == "-" else h, None if t == "-" else t))
    return out
