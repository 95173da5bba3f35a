"""Readers and writers of the shared data sets the benchmarks use (../shared/data): CoNLL-2003,
Reuters-21578, SST-2 and TREC, and the label descriptions written once for the zero- and few-shot runs.
The benchmarks read the files themselves (not through rawtune) so the Hugging Face side of a comparison
sees exactly the same examples.
"""

from __future__ import annotations

import csv
import html
import random
import re
from pathlib import Path

TEXT, LABEL = "sentence", "label"  # the CSV columns of the classification files written here
SST2_DESCRIPTIONS = {"0": ["a negative movie review"], "1": ["a positive movie review"]}
TREC_LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
TREC_DESCRIPTIONS = {  # Li & Roth (2002), Table 1: the coarse classes
    "ABBR": ["abbreviation"],
    "DESC": ["description and abstract concept"],
    "ENTY": ["entity"],
    "HUM": ["human being"],
    "LOC": ["location"],
    "NUM": ["numeric value"],
}


# --- CoNLL-2003 ----------------------------------------------------------------------------------
def read_conll(path: str | Path) -> list[list[list[str]]]:
    """Sentences as lists of whitespace-split lines (`token POS tag`); -DOCSTART- lines end a sentence."""
    sentences: list[list[list[str]]] = []
    cur: list[list[str]] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        cols = line.split()
        if not cols or cols[0] == "-DOCSTART-":
            if cur:
                sentences.append(cur)
                cur = []
            continue
        cur.append(cols)
    if cur:
        sentences.append(cur)
    return sentences


def words_and_tags(sentences: list[list[list[str]]]) -> tuple[list[list[str]], list[list[str]]]:
    """Token = first column, tag = last column (rawtune's default, too)."""
    return [[c[0] for c in s] for s in sentences], [[c[-1] for c in s] for s in sentences]


def write_conll(sentences: list[list[list[str]]], path: Path) -> None:
    path.write_text(
        "\n\n".join("\n".join(" ".join(c) for c in s) for s in sentences) + "\n", encoding="utf-8"
    )


def sentence_texts(sentences: list[list[list[str]]]) -> list[str]:
    """Each sentence as raw text: its tokens joined by spaces."""
    return [" ".join(c[0] for c in s) for s in sentences]


def write_raw_text(sentences: list[list[list[str]]], path: Path) -> int:
    """A pretraining corpus: one sentence per line, tokens joined by spaces."""
    path.write_text("\n".join(sentence_texts(sentences)) + "\n", encoding="utf-8")
    return len(sentences)


# --- Reuters-21578 -------------------------------------------------------------------------------
_BODY = re.compile(r"<BODY>(.*?)</BODY>", re.DOTALL)
_CONTROL_ENTITY = re.compile(r"&#\d+;")
_SIGN_OFF = re.compile(r"\s*\bReuter\s*$", re.IGNORECASE)


def reuters_to_text(src_dir: Path, dst: Path, max_docs: int | None = None) -> tuple[int, int]:
    """Reuters-21578 SGML -> one document (its <BODY>, whitespace collapsed) per line. Control-character entities
    (&#3; ...) and the trailing "Reuter" sign-off are dropped, &lt; &amp; &gt; unescaped. Returns (docs, chars)."""
    docs: list[str] = []
    for sgm in sorted(src_dir.glob("reut2-*.sgm")):
        for m in _BODY.finditer(sgm.read_text(encoding="latin-1")):
            body = html.unescape(_CONTROL_ENTITY.sub(" ", m.group(1)))
            body = _SIGN_OFF.sub("", " ".join(body.split()))
            if body:
                docs.append(body)
            if max_docs and len(docs) >= max_docs:
                break
        if max_docs and len(docs) >= max_docs:
            break
    dst.write_text("\n".join(docs) + "\n", encoding="utf-8")
    return len(docs), sum(len(d) for d in docs)


# --- classification: SST-2, TREC, CSV ------------------------------------------------------------
def read_sst2(path: Path) -> list[tuple[str, str]]:
    """GLUE SST-2 TSV: header `sentence<TAB>label`; sentences carry a trailing space (stripped here)."""
    rows = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        ti, li = header.index("sentence"), header.index("label")
        for r in reader:
            if r:
                rows.append((r[ti].strip(), r[li].strip()))
    return rows


def read_trec(path: Path) -> list[tuple[str, str]]:
    """TREC `COARSE:fine question ...` lines (latin-1) -> (question, coarse label)."""
    rows = []
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.strip():
            label, text = line.split(" ", 1)
            rows.append((text.strip(), label.split(":", 1)[0]))
    return rows


def write_csv(rows: list[tuple[str, str]], path: Path, columns: tuple[str, str] = (TEXT, LABEL)) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        w.writerows(rows)


def read_csv(path: str | Path) -> list[tuple[str, str]]:
    with Path(path).open(encoding="utf-8", newline="") as fh:
        return [(r[TEXT], r[LABEL]) for r in csv.DictReader(fh)]


def sample_keeping_labels(rows: list[tuple[str, str]], k: int, rng: random.Random) -> list[tuple[str, str]]:
    """Seeded random sample of k rows, original order, with at least one row of every label (when k allows):
    rawtune refuses dev labels the training set lacks, and HF could never predict them."""
    by_label: dict[str, list[int]] = {}
    for i, (_, lab) in enumerate(rows):
        by_label.setdefault(lab, []).append(i)
    first = [rng.choice(idx) for _, idx in sorted(by_label.items())][:k]
    chosen = set(first)
    rest = [i for i in range(len(rows)) if i not in chosen]
    keep = chosen | set(rng.sample(rest, k - len(chosen)))
    return [rows[i] for i in sorted(keep)]
