"""Train a WordPiece / byte-level BPE / Unigram tokenizer on a corpus; add frequent domain words.

Trained with the Rust `tokenizers` library and wrapped as a `PreTrainedTokenizerFast` with every
special-token role set, saved with `save_pretrained` so `AutoTokenizer.from_pretrained` loads it
offline (and it has the mask token MLM needs).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rawtune.config.schema import DataConfig
from rawtune.data.corpus import normalize
from rawtune.data.readers.text import iter_documents
from rawtune.data.tokenization import fast_backend
from rawtune.errors import DataError, RunDirError

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

BERT_SPECIALS = {
    "pad_token": "[PAD]",
    "unk_token": "[UNK]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}
ROBERTA_SPECIALS = {
    "bos_token": "<s>",
    "pad_token": "<pad>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "mask_token": "<mask>",
    "cls_token": "<s>",
    "sep_token": "</s>",
}
_WORD = re.compile(r"\w+")


def _bert_style(model: Any, lowercase: bool, tokenizer_type: str) -> Tokenizer:
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers

    tok = Tokenizer(model)
    if tokenizer_type == "wordpiece":
        tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix="##")
    else:  # unigram, SentencePiece style
        steps = [normalizers.NFKC(), *([normalizers.Lowercase()] if lowercase else [])]
        tok.normalizer = normalizers.Sequence(steps)
        tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")  # not again after added tokens
        tok.decoder = decoders.Metaspace(prepend_scheme="first")
    return tok


def _trainer_and_tokenizer(
    tokenizer_type: str, vocab_size: int, min_frequency: int, lowercase: bool
) -> tuple[Any, Tokenizer, dict[str, str]]:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    trainer: Any
    if tokenizer_type == "wordpiece":
        specials = list(BERT_SPECIALS.values())
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=specials,
            continuing_subword_prefix="##",
            show_progress=False,
        )
        return (
            trainer,
            _bert_style(models.WordPiece(unk_token="[UNK]"), lowercase, "wordpiece"),
            BERT_SPECIALS,
        )
    if tokenizer_type == "unigram":  # UnigramTrainer has no min_frequency
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size,
            special_tokens=list(BERT_SPECIALS.values()),
            unk_token="[UNK]",
            show_progress=False,
        )
        return trainer, _bert_style(models.Unigram(), lowercase, "unigram"), BERT_SPECIALS
    if tokenizer_type == "bpe":
        tok = Tokenizer(models.BPE())
        if lowercase:
            tok.normalizer = normalizers.Lowercase()
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        specials = list(dict.fromkeys(ROBERTA_SPECIALS.values()))
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        return trainer, tok, ROBERTA_SPECIALS
    raise ValueError(f"unknown tokenizer type {tokenizer_type!r} (wordpiece, bpe, unigram)")


def _post_processor(tok: Tokenizer, tokenizer_type: str) -> None:
    from tokenizers import processors

    if tokenizer_type == "bpe":
        sep, cls = ("</s>", _token_id(tok, "</s>")), ("<s>", _token_id(tok, "<s>"))
        tok.post_processor = processors.RobertaProcessing(sep, cls, add_prefix_space=False)
    else:
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[(t, _token_id(tok, t)) for t in ("[CLS]", "[SEP]")],
        )


def _token_id(tok: Tokenizer, token: str) -> int:
    token_id = tok.token_to_id(token)
    if token_id is None:  # the trainers always keep special tokens
        raise RuntimeError(f"trained vocabulary lacks {token}")
    return token_id


def _texts(corpus: list[str], cfg: DataConfig, found: list[int]) -> Iterator[str]:
    for doc in iter_documents(corpus, cfg):
        text = normalize(doc.text, cfg.normalize)
        if text:
            found[0] += 1
            yield text


def _check_output(output: Path) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise RunDirError(f"tokenizer output {output} already exists and is not empty; choose another path")


def train_tokenizer(
    corpus: list[str],
    output: str | Path,
    *,
    type: str = "wordpiece",
    vocab_size: int = 16000,
    min_frequency: int = 2,
    lowercase: bool = True,
    data_cfg: DataConfig | None = None,
    model_max_length: int = 512,
) -> PreTrainedTokenizerFast:
    """Train a tokenizer on the documents of `corpus` (files, dirs, globs, hf:...; read with `data_cfg`),
    save it to `output` (a new or empty directory, written atomically) and return it."""
    from transformers import PreTrainedTokenizerFast

    from rawtune.runs.atomic import atomic_dir

    output = Path(output)
    _check_output(output)
    cfg = data_cfg or DataConfig()
    trainer, tok, specials = _trainer_and_tokenizer(type, vocab_size, min_frequency, lowercase)
    found = [0]
    tok.train_from_iterator(_texts(corpus, cfg, found), trainer=trainer)
    if not found[0]:
        raise DataError(f"corpus {', '.join(corpus)}: no text to train a tokenizer on")
    _post_processor(tok, type)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=model_max_length, **specials)
    if output.exists():
        output.rmdir()  # empty, checked above
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(output) as tmp:
        wrapped.save_pretrained(str(tmp))
    wrapped.name_or_path = str(output)
    return wrapped


def _words(tokenizer: PreTrainedTokenizerFast, text: str) -> list[str]:
    backend = tokenizer.backend_tokenizer
    norm = backend.normalizer.normalize_str(text) if backend.normalizer else text
    spans = (
        backend.pre_tokenizer.pre_tokenize_str(norm) if backend.pre_tokenizer else [(norm, (0, len(norm)))]
    )
    return [w for _, (s, e) in spans for w in _WORD.findall(norm[s:e]) if any(c.isalpha() for c in w)]


def add_domain_words(
    tokenizer: PreTrainedTokenizerFast, texts: Iterable[str], max_words: int, min_count: int
) -> list[str]:
    """Add up to `max_words` words seen >= `min_count` times that the vocabulary splits into >= 2 pieces
    (or maps to unk), most frequent first, as the tokenizer normalises them; return them (the caller
    resizes the embeddings)."""
    if max_words <= 0:
        return []
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(_words(tokenizer, text))
    plain = fast_backend(tokenizer)
    base = len(plain.encode("a", add_special_tokens=False).ids)
    chosen: list[str] = []
    for word, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if count < min_count or len(chosen) >= max_words:
            break
        ids = plain.encode("a " + word, add_special_tokens=False).ids[base:]  # as seen mid-sentence
        if len(ids) >= 2 or tokenizer.unk_token_id in ids:
            chosen.append(word)
    tokenizer.add_tokens([_added_token(plain, w) for w in chosen])
    return chosen


def _added_token(backend: Tokenizer, word: str) -> Any:
    """Whole words only (never inside a longer word). Byte-level / SentencePiece vocabularies carry the
    space in the token ('Ġword', '▁word'), so there the added token absorbs the space before it (lstrip)
    to stay one piece; decoding then drops that space, as with RoBERTa's '<mask>'."""
    from tokenizers import AddedToken

    lstrip = type(backend.model).__name__ != "WordPiece"
    return AddedToken(word, single_word=True, lstrip=lstrip, normalized=True)


def pad_id(tokenizer: Any) -> int:
    """The id that pads a batch: the pad token, else end of text (GPT-2 has no pad token), else 0."""
    for tid in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if tid is not None:
            return int(tid)
    return 0
