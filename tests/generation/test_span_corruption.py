"""The T5 span-corruption pretraining objective: the corruption is lossless and seeded, and a tiny
T5 pretrained from scratch with it on raw text fine-tunes as a seq2seq model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rawtune.tasks.span import corrupt, noise_mask


def _restore(inputs: list[int], target: list[int], sentinels: list[int], eos: int) -> list[int]:
    """Put each sentinel's hidden tokens back into the input."""
    spans: dict[int, list[int]] = {}
    current = None
    for t in target[:-1]:
        if t in sentinels:
            current = t
            spans[t] = []
        else:
            spans[current].append(t)
    out: list[int] = []
    for t in inputs[:-1]:
        out.extend(spans[t] if t in sentinels else [t])
    assert inputs[-1] == target[-1] == eos
    return out


@pytest.mark.parametrize("n", [2, 7, 64, 200])
def test_corruption_hides_spans_that_the_target_restores(n):
    rng = np.random.default_rng(3)
    tokens = np.arange(1000, 1000 + n)
    mask = noise_mask(n, 0.15, 3.0, rng)
    assert 1 <= mask.sum() <= n - 1 and mask.sum() == min(max(1, round(n * 0.15)), n - 1)
    assert not mask[0]  # a kept span first, as T5 does
    sentinels = list(range(10, 110))
    inputs, target = corrupt(tokens, mask, sentinels, eos=1)
    n_spans = int(mask[0]) + int(np.sum(mask[1:] & ~mask[:-1]))
    assert sum(t in sentinels for t in inputs) == n_spans == sum(t in sentinels for t in target)
    assert len(inputs) == n - int(mask.sum()) + n_spans + 1
    assert _restore(inputs, target, sentinels, eos=1) == tokens.tolist()
    if n == 200:  # 30 noise tokens in round(30 / 3) = 10 spans
        assert n_spans == 10


def test_spans_are_a_function_of_seed_epoch_and_sample(tiny_bpe_tokenizer):
    from transformers import AutoTokenizer

    from rawtune.config.schema import ObjectiveConfig
    from rawtune.tasks.span import SpanCollator, sentinel_ids

    tok = AutoTokenizer.from_pretrained(tiny_bpe_tokenizer.name_or_path)
    sentinel_ids(tok)
    cfg = ObjectiveConfig(name="span")
    text = "the patient was found with a small heart and blood cell trial result after the first week"
    ids = tok(" ".join([text] * 4))["input_ids"]  # ~70 tokens: several spans, placed at random
    sample = {"input_ids": ids, "length": len(ids)}
    collate = SpanCollator(tok, cfg, seed=1, salt=11)
    a = collate([sample], [5], 0)
    assert all(
        (a[k] == b[k]).all() for b in [SpanCollator(tok, cfg, seed=1, salt=11)([sample], [5], 0)] for k in a
    )
    others = [
        collate([sample], [6], 0),
        collate([sample], [5], 1),
        SpanCollator(tok, cfg, 2, 11)([sample], [5], 0),
    ]
    for o in others:  # another sample, epoch or seed: other spans
        assert a["labels"].shape != o["labels"].shape or not (a["labels"] == o["labels"]).all()
    assert tok.bos_token_id not in a["input_ids"][0].tolist()  # special tokens are not corrupted or kept


def test_a_t5_pretrained_with_spans_from_scratch_then_fine_tuned(
    tmp_path, tiny_corpus_dir, gen_config, copy_data
):
    from transformers import AutoModelForSeq2SeqLM

    from rawtune.config.loader import load_config
    from rawtune.stages.finetune import run_finetune
    from rawtune.stages.pretrain import run_pretrain

    overrides = {
        "output": str(tmp_path / "pre"),
        "model.init": "scratch",
        "model.arch": "t5",
        "model.layers": 2,
        "model.hidden": 32,
        "model.heads": 2,
        "model.intermediate": 64,
        "objective.name": "span",
        "tokenizer.type": "bpe",
        "tokenizer.vocab_size": 400,
        "data.corpus": [str(tiny_corpus_dir)],
        "data.seq_len": 64,
        "data.cache_dir": str(tmp_path / "cache"),
        "train.max_steps": 40,
        "train.eval_steps": 40,
        "train.batch_size": 8,
        "train.lr": 3e-3,
        "train.threads": 1,
        "train.progress": False,
        "train.log_steps": 1,
    }
    run = run_pretrain(load_config("pretrain", overrides=overrides))
    m = json.loads(run.metrics_json.read_text())
    assert m["objective"] == "span" and m["after"]["loss"] < m["before"]["loss"]
    model = AutoModelForSeq2SeqLM.from_pretrained(run.model_dir)
    assert model.config.model_type == "t5"
    tuned = run_finetune(gen_config("seq2seq", run.path, copy_data))
    assert json.loads((tuned.path / "manifest.json").read_text())["parent"] == str(run.path.resolve())
    from transformers import AutoTokenizer

    assert "<extra_id_0>" in AutoTokenizer.from_pretrained(tuned.model_dir).get_vocab()  # the run's tokenizer
    again = AutoModelForSeq2SeqLM.from_pretrained(tuned.model_dir)
    assert again.config.vocab_size == model.config.vocab_size  # the pretrained embeddings, sentinels included


def test_span_goes_with_t5_when_built_from_scratch():
    from rawtune.config.loader import load_config
    from rawtune.errors import ConfigError

    base = {"output": "o", "data.corpus": ["c"], "model.init": "scratch"}
    with pytest.raises(ConfigError, match=r"objective\.name=span goes with model\.arch=t5"):
        load_config("pretrain", overrides={**base, "model.arch": "t5"})
    with pytest.raises(ConfigError, match=r"objective\.name=span goes with model\.arch=t5"):
        load_config("pretrain", overrides={**base, "objective.name": "span"})
