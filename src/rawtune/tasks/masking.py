"""Dynamic MLM masking that is a pure function of (seed, epoch, sample id).

Hand-written rather than `DataCollatorForLanguageModeling` because the stock collator draws from
the global torch RNG, so the batches right after a resume are masked differently and bit-exact
resume is impossible; and because whole-word masking here works for any fast tokenizer via the
word starts recorded at tokenisation (the stock whole-word collator only knows WordPiece '##').
"""

from __future__ import annotations

import numpy as np

from rawtune.config.schema import ObjectiveConfig

IGNORE = -100


def mask_tokens(
    ids: np.ndarray,
    word_starts: np.ndarray,
    maskable: np.ndarray,
    rng: np.random.Generator,
    cfg: ObjectiveConfig,
    mask_id: int,
    vocab_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (inputs, labels) for one sequence. `maskable` is False for special and pad tokens.
    Every sequence with a maskable token gets at least one prediction target."""
    n = len(ids)
    if cfg.whole_word:
        word = np.cumsum(word_starts) - 1  # word index of every token
        picked = rng.random(int(word[-1]) + 1) < cfg.mask_rate
        selected = picked[word] & maskable
    else:
        selected = (rng.random(n) < cfg.mask_rate) & maskable
    if not selected.any() and maskable.any():
        pos = int(rng.choice(np.flatnonzero(maskable)))
        selected = (word == word[pos]) & maskable if cfg.whole_word else (np.arange(n) == pos)
    labels = np.where(selected, ids, IGNORE)
    inputs = ids.copy()
    u = rng.random(n)
    inputs[selected & (u < cfg.mask_token_frac)] = mask_id
    rand = selected & (u >= cfg.mask_token_frac) & (u < cfg.mask_token_frac + cfg.random_token_frac)
    inputs[rand] = rng.integers(0, vocab_size, size=int(rand.sum()))
    return inputs, labels
