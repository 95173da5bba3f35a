"""Raw documents -> normalised, deduplicated, split -> tokenised -> packed blocks, cached by fingerprint.

Every decision is a pure function of the data and the config: a document goes to validation when
the hash of its normalised text falls under `validation_split`, so duplicates always land on the
same side and a streaming pass reproduces the in-memory build block for block. The in-memory build
is cached under `<cache root>/corpora/<fingerprint>/` (written to a temp dir, then renamed).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from rawtune.config.schema import DataConfig
from rawtune.data.dedupe import repeated_digests
from rawtune.data.readers.text import iter_documents, sources_fingerprint
from rawtune.data.tokenization import fast_backend, tokenizer_fingerprint
from rawtune.errors import DataError
from rawtune.runs.atomic import atomic_dir, write_json

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

FORMAT_VERSION = 1
_BATCH_DOCS = 1000
_BAD_LINES_KEPT = 5  # data.bad_lines: skip records this many locations
_SIDES = ("train", "validation")
_FORMS: dict[str, Literal["NFC", "NFKC"]] = {"nfc": "NFC", "nfkc": "NFKC"}


def normalize(text: str, mode: str) -> str:
    """Unicode NFC/NFKC and whitespace runs collapsed to one space, stripped; "none": only strip."""
    if mode == "none":
        return text.strip()
    if mode not in _FORMS:
        raise ValueError(f"unknown normalisation {mode!r}")
    return " ".join(unicodedata.normalize(_FORMS[mode], text).split())


@dataclass
class CorpusStats:
    documents_read: int = 0
    dropped_empty: int = 0
    dropped_short: int = 0
    dropped_duplicate: int = 0  # includes train documents also present in validation_files
    normalised_changed: int = 0
    skipped_bad_lines: int = 0  # data.bad_lines: skip
    first_bad_lines: list[str] = field(default_factory=list)  # "file:line: why", the first few
    train_documents: int = 0
    validation_documents: int = 0  # before the max_validation_blocks cap
    train_tokens: int | None = 0  # tokens in blocks, special tokens included; None when streaming
    validation_tokens: int = 0
    train_blocks: int | None = 0  # None when streaming (not known before a full pass)
    validation_blocks: int = 0
    from_cache: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class BlockSet:
    """Map-style dataset over (usually memory-mapped) packed blocks."""

    def __init__(self, input_ids: np.ndarray, word_starts: np.ndarray, lengths: np.ndarray):
        self.input_ids, self.word_starts, self.lengths = input_ids, word_starts, lengths

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {
            "input_ids": np.array(self.input_ids[i]),
            "word_starts": np.array(self.word_starts[i]),
            "length": int(self.lengths[i]),
        }

    def save(self, directory: Path, side: str) -> None:
        for name in ("input_ids", "word_starts", "lengths"):
            np.save(directory / f"{side}_{name}.npy", getattr(self, name))

    @classmethod
    def load(cls, directory: Path, side: str) -> BlockSet:
        arrays = [
            np.load(directory / f"{side}_{n}.npy", mmap_mode="r")
            for n in ("input_ids", "word_starts", "lengths")
        ]
        return cls(*arrays)


class _Packer:
    """Tokenises documents in batches and cuts the joined token stream into framed blocks."""

    def __init__(self, tokenizer: PreTrainedTokenizerFast, seq_len: int):
        self.backend = fast_backend(tokenizer)
        probe = self.backend.encode("a", add_special_tokens=True)
        content = [i for i, m in enumerate(probe.special_tokens_mask) if not m] or [len(probe.ids)]
        self.prefix, self.suffix = probe.ids[: content[0]], probe.ids[content[-1] + 1 :]
        self.seq_len, self.chunk = seq_len, seq_len - len(self.prefix) - len(self.suffix)
        if self.chunk < 1:
            raise DataError(f"data.seq_len {seq_len} leaves no room after the special tokens")
        sep = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        self.sep, self.pad = sep, tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def _encode(self, texts: list[str], first: bool) -> tuple[list[int], list[bool]]:
        ids: list[int] = []
        starts: list[bool] = []
        for enc in self.backend.encode_batch(texts, add_special_tokens=False):
            if not enc.ids:
                continue
            if self.sep is not None and not (first and not ids):
                ids.append(self.sep)
                starts.append(True)
            wid = enc.word_ids
            ids += enc.ids
            starts.append(True)
            starts += [a is None or a != b for a, b in zip(wid[1:], wid)]
        return ids, starts

    def _frame(self, ids: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k, c = ids.shape
        p, s = len(self.prefix), len(self.suffix)
        out = np.full((k, self.seq_len), self.pad, dtype=np.int32)
        ws = np.zeros((k, self.seq_len), dtype=bool)
        out[:, :p], out[:, p : p + c], out[:, p + c : p + c + s] = self.prefix, ids, self.suffix
        ws[:, :p], ws[:, p : p + c], ws[:, p + c : p + c + s] = True, starts, True
        ws[:, p] = True  # a block's first content token starts a word even when cut mid-word
        return out, ws, np.full(k, p + c + s, dtype=np.int32)

    def blocks(self, texts: Iterable[str]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Yield (input_ids [k, seq_len], word_starts [k, seq_len], lengths [k]) groups of blocks."""
        buf_ids, buf_ws = np.zeros(0, np.int32), np.zeros(0, bool)
        it = iter(texts)
        first = True
        while batch := list(itertools.islice(it, _BATCH_DOCS)):
            ids, starts = self._encode(batch, first)
            first = first and not ids
            buf_ids = np.concatenate([buf_ids, np.asarray(ids, np.int32)])
            buf_ws = np.concatenate([buf_ws, np.asarray(starts, bool)])
            n = len(buf_ids) // self.chunk * self.chunk
            if n:
                yield self._frame(buf_ids[:n].reshape(-1, self.chunk), buf_ws[:n].reshape(-1, self.chunk))
                buf_ids, buf_ws = buf_ids[n:], buf_ws[n:]
        if len(buf_ids):
            yield self._frame(buf_ids[None], buf_ws[None])


def _collect(
    groups: Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]], cap: int | None, seq_len: int
) -> BlockSet:
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    total = 0
    for group in groups:
        parts.append(group)
        total += len(group[2])
        if cap is not None and total >= cap:
            break
    if not parts:
        return BlockSet(np.zeros((0, seq_len), np.int32), np.zeros((0, seq_len), bool), np.zeros(0, np.int32))
    ids, ws, lens = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return BlockSet(ids[:cap], ws[:cap], lens[:cap])


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


def _fraction(digest: bytes) -> float:
    return int.from_bytes(digest[:8], "big") / 2**64


def _clean(
    specs: list[str],
    cfg: DataConfig,
    stats: CorpusStats | None,
    repeated: frozenset[bytes] | None = None,
    dedupe: bool | None = None,
) -> Iterator[tuple[str, bytes]]:
    """Normalised, non-empty, long-enough, (deduplicated) documents with their digests. Given
    `repeated` (a superset of the digests that occur more than once, see data/dedupe.py), only
    those are remembered: the same documents are dropped in memory that does not grow per document."""
    seen: set[bytes] = set()
    counts = stats or CorpusStats()
    dedupe = cfg.dedupe if dedupe is None else dedupe

    def on_bad(err: DataError) -> None:
        if stats is not None:  # counted on the counting pass only
            counts.skipped_bad_lines += 1
            if len(counts.first_bad_lines) < _BAD_LINES_KEPT:
                counts.first_bad_lines.append(str(err))

    for doc in iter_documents(specs, cfg, on_bad):
        text = normalize(doc.text, cfg.normalize)
        counts.documents_read += 1
        counts.normalised_changed += text != doc.text
        if not text:
            counts.dropped_empty += 1
            continue
        if len(text) < cfg.min_chars:
            counts.dropped_short += 1
            continue
        digest = _digest(text)
        if dedupe and (repeated is None or digest in repeated):
            if digest in seen:
                counts.dropped_duplicate += 1
                continue
            seen.add(digest)
        yield text, digest


@dataclass
class _Split:
    """Which side each corpus document goes to; `moved` holds the few overrides of the hash rule."""

    cfg: DataConfig
    holdout: frozenset[bytes]  # digests of validation_files documents (dropped from train when deduping)
    moved: dict[bytes, str]
    kept: dict[str, list[tuple[str, bytes]]] | None = None  # in-memory builds: the cleaned docs, read once
    repeated: frozenset[bytes] | None = None  # streaming builds: the corpus digests that may repeat

    def side(self, digest: bytes) -> str | None:
        if self.cfg.validation_files:
            return None if self.cfg.dedupe and digest in self.holdout else "train"
        if digest in self.moved:
            return self.moved[digest]
        return "validation" if _fraction(digest) < self.cfg.validation_split else "train"

    def _docs(self, source: str) -> Iterable[tuple[str, bytes]]:
        if self.kept is not None:
            return self.kept[source]
        return _clean(
            getattr(self.cfg, source), self.cfg, None, self.repeated if source == "corpus" else None
        )

    def texts(self, side: str) -> Iterator[str]:
        if side == "validation" and self.cfg.validation_files:
            yield from (text for text, _ in self._docs("validation_files"))
            return
        yield from (text for text, d in self._docs("corpus") if self.side(d) == side)


def _scan(cfg: DataConfig, stats: CorpusStats, keep: bool) -> _Split:
    """One reading pass: count, then fix the split so train is non-empty and validation gets >= 1 doc.
    With `keep`, the cleaned documents are kept in memory so later passes need not re-read the files;
    without it (streaming), a first pass finds the digests that may repeat, so that deduplication
    here and in every later pass remembers only those."""
    kept: dict[str, list[tuple[str, bytes]]] = {"corpus": [], "validation_files": []}
    held = list(_clean(cfg.validation_files, cfg, stats))
    repeated = None
    if cfg.dedupe and not keep:
        repeated = repeated_digests(d for _, d in _clean(cfg.corpus, cfg, None, dedupe=False))
    split = _Split(cfg, frozenset(d for _, d in held), {}, kept if keep else None, repeated)
    if keep:
        kept["validation_files"] = held
    counts = {"train": 0, "validation": 0, None: 0}
    extreme: dict[str, tuple[float, bytes, int]] = {}  # side -> (key, digest, copies) of the doc to move
    for text, digest in _clean(cfg.corpus, cfg, stats, repeated):
        if keep:
            kept["corpus"].append((text, digest))
        side = split.side(digest)
        counts[side] += 1
        if side is None:
            stats.dropped_duplicate += 1
            continue
        key = _fraction(digest) if side == "train" else -_fraction(digest)
        best = extreme.get(side)
        if best is None or key < best[0]:
            extreme[side] = (key, digest, 1)
        elif best[1] == digest:
            extreme[side] = (key, digest, best[2] + 1)
    if not cfg.validation_files:
        for src, dst, ok in (
            ("validation", "train", counts["train"] == 0 and counts["validation"] > 0),
            (
                "train",
                "validation",
                counts["validation"] == 0 and counts["train"] >= 2 and cfg.validation_split > 0,
            ),
        ):
            if ok:
                _, digest, copies = extreme[src]
                split.moved[digest] = dst
                counts[src], counts[dst] = counts[src] - copies, counts[dst] + copies
    stats.train_documents = counts["train"]
    stats.validation_documents = len(held) if cfg.validation_files else counts["validation"]
    return split


def _check_left(cfg: DataConfig, stats: CorpusStats) -> None:
    if stats.train_documents:
        return
    s = stats
    raise DataError(
        f"corpus {', '.join(cfg.corpus)}: no documents left (read {s.documents_read}; dropped "
        f"{s.dropped_empty} empty, {s.dropped_short} short, {s.dropped_duplicate} duplicate"
        + (f"; skipped {s.skipped_bad_lines} bad lines" if s.skipped_bad_lines else "")
        + ")"
    )


class StreamingBlocks:
    """Training blocks tokenised on the fly, in the same deterministic order as the in-memory build."""

    def __init__(self, split: _Split, packer: _Packer):
        self._split, self._packer = split, packer

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self.iter_from(0)

    def iter_from(self, skip: int) -> Iterator[dict[str, Any]]:
        """Blocks after the first `skip` (already consumed) ones; the corpus is re-read and re-tokenised."""
        seen = 0
        for group in self._packer.blocks(self._split.texts("train")):
            k = len(group[2])
            if seen + k > skip:
                block_set = BlockSet(*group)
                for i in range(max(0, skip - seen), k):
                    yield block_set[i]
            seen += k


@dataclass
class PackedCorpus:
    fingerprint: str
    cache_path: Path | None
    train: BlockSet | StreamingBlocks
    validation: BlockSet
    stats: CorpusStats


def cache_root(cfg: DataConfig) -> Path:
    return Path(cfg.cache_dir or os.environ.get("RAWTUNE_CACHE") or Path.home() / ".cache" / "rawtune")


def corpus_fingerprint(cfg: DataConfig, tokenizer: PreTrainedTokenizerFast) -> str:
    """sha256 over the format version, the sources' contents, every output-changing option, the tokenizer."""
    options = cfg.model_dump(mode="json", exclude={"corpus", "validation_files", "cache_dir", "streaming"})
    payload = {
        "format": FORMAT_VERSION,
        "sources": sources_fingerprint(cfg.corpus, cfg),
        "validation_sources": sources_fingerprint(cfg.validation_files, cfg)
        if cfg.validation_files
        else None,
        "options": options,
        "tokenizer": tokenizer_fingerprint(tokenizer),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _load_cache(path: Path, log: Callable[[str], None]) -> tuple[BlockSet, BlockSet, CorpusStats] | None:
    meta_file = path / "meta.json"
    if not meta_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            return None
        train, val = (BlockSet.load(path, side) for side in _SIDES)
        stats = CorpusStats(**{**meta["stats"], "from_cache": True})
    except (OSError, ValueError, KeyError, TypeError) as e:
        log(f"corpus: ignoring unreadable cache {path} ({e})")
        return None
    return train, val, stats


def _write_cache(path: Path, train: BlockSet, val: BlockSet, stats: CorpusStats, cfg: DataConfig) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(path) as tmp:
        train.save(tmp, "train")
        val.save(tmp, "validation")
        write_json(
            tmp / "meta.json",
            {"format": FORMAT_VERSION, "stats": stats.to_dict(), "options": cfg.model_dump(mode="json")},
        )


def build_corpus(
    cfg: DataConfig, tokenizer: PreTrainedTokenizerFast, *, log: Callable[[str], None] = print
) -> PackedCorpus:
    """Read, normalise, dedupe, split, tokenise and pack `cfg.corpus`; reuse the cache when it matches."""
    if not cfg.corpus:
        raise DataError("no corpus given (data.corpus is empty)")
    t0 = time.perf_counter()
    packer = _Packer(tokenizer, cfg.seq_len)
    fingerprint = corpus_fingerprint(cfg, tokenizer)
    path = None if cfg.streaming else cache_root(cfg) / "corpora" / fingerprint
    cached = _load_cache(path, log) if path else None
    if path and cached:
        log(f"corpus {fingerprint[:12]}: loaded from cache {path}")
        return PackedCorpus(fingerprint, path, cached[0], cached[1], cached[2])
    stats = CorpusStats()
    split = _scan(cfg, stats, keep=path is not None)
    _check_left(cfg, stats)
    val = _collect(packer.blocks(split.texts("validation")), cfg.max_validation_blocks, cfg.seq_len)
    stats.validation_blocks, stats.validation_tokens = len(val), int(np.sum(val.lengths))
    train: BlockSet | StreamingBlocks
    if path is None:
        train, stats.train_blocks, stats.train_tokens = StreamingBlocks(split, packer), None, None
    else:
        train = _collect(packer.blocks(split.texts("train")), None, cfg.seq_len)
        stats.train_blocks, stats.train_tokens = len(train), int(np.sum(train.lengths))
        _write_cache(path, train, val, stats, cfg)
        train, val = (BlockSet.load(path, side) for side in _SIDES)
    if stats.skipped_bad_lines:
        log(
            f"corpus: skipped {stats.skipped_bad_lines} bad line(s) (data.bad_lines: skip), the first: "
            + "; ".join(stats.first_bad_lines)
        )
    log(
        f"corpus {fingerprint[:12]}: {stats.train_documents} train / {stats.validation_documents} validation "
        f"documents -> {stats.train_blocks if stats.train_blocks is not None else 'streamed'} / "
        f"{stats.validation_blocks} blocks of {cfg.seq_len} ({time.perf_counter() - t0:.1f}s)"
    )
    return PackedCorpus(fingerprint, path, train, val, stats)
