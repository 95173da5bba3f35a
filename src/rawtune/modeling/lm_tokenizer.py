"""The tokenizer of a pretraining run: the one `tokenizer.path` names, a new one trained on the
corpus (for `tokenizer.train` or a model from scratch; cached by the corpus and settings), or the
model's own; and the domain words added to it."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from rawtune.config.schema import PretrainConfig
from rawtune.data.corpus import cache_root, normalize
from rawtune.data.readers.text import iter_documents, sources_fingerprint
from rawtune.modeling.backbone import load_tokenizer
from rawtune.modeling.tokenizers import add_domain_words, train_tokenizer

log = logging.getLogger("rawtune")


def pretrain_tokenizer(cfg: PretrainConfig, src: Any) -> Any:
    tcfg = cfg.tokenizer
    if tcfg.path:
        return load_tokenizer(tcfg.path, cfg.model)
    if tcfg.train or cfg.model.init == "scratch":
        key = hashlib.sha256(
            (
                sources_fingerprint(cfg.data.corpus, cfg.data)
                + tcfg.model_dump_json()
                + cfg.data.model_dump_json()
            ).encode()
        ).hexdigest()[:20]
        out = cache_root(cfg.data) / "tokenizers" / key
        if not (out / "tokenizer.json").is_file():
            log.info("training a %s tokenizer (vocab %d) on the corpus", tcfg.type, tcfg.vocab_size)
            if out.exists():
                import shutil

                shutil.rmtree(out)
            out.parent.mkdir(parents=True, exist_ok=True)
            train_tokenizer(
                cfg.data.corpus,
                out,
                type=tcfg.type,
                vocab_size=tcfg.vocab_size,
                min_frequency=tcfg.min_frequency,
                lowercase=tcfg.lowercase,
                data_cfg=cfg.data,
                model_max_length=cfg.data.seq_len,
            )
        return load_tokenizer(str(out))
    return load_tokenizer(src.ref, cfg.model)


def add_corpus_words(cfg: PretrainConfig, tokenizer: Any) -> list[str]:
    """`tokenizer.add_domain_words`: the corpus's most frequent words the tokenizer splits, added
    whole; returns them."""
    if not cfg.tokenizer.add_domain_words:
        return []
    texts = (normalize(d.text, cfg.data.normalize) for d in iter_documents(cfg.data.corpus, cfg.data))
    added = add_domain_words(
        tokenizer, texts, cfg.tokenizer.add_domain_words, cfg.tokenizer.domain_word_min_count
    )
    log.info("added %d domain words to the vocabulary (e.g. %s)", len(added), ", ".join(added[:5]))
    return added
