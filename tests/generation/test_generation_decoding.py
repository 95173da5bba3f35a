"""Decoding on tiny random models: beam search finds a sequence at least as likely as greedy's,
left-padded decoder prompts generate what they generate alone, seeded sampling repeats, and the
evaluation loss is the token-weighted mean (perplexity its exp)."""

from __future__ import annotations

import math

import pytest
import torch

from rawtune.config.generation import GenerationConfig
from rawtune.tasks.base import Inference
from rawtune.tasks.decoding import generate_texts, teacher_forced


def _log_prob(model, input_ids, attention_mask, continuation: torch.Tensor) -> float:
    """Sum of log p(token | source, previous tokens) of a decoder sequence (start token first)."""
    with torch.no_grad():
        logits = model(
            input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=continuation[None, :-1]
        ).logits[0]
    logp = torch.log_softmax(logits.float(), -1)
    return float(logp.gather(1, continuation[1:, None]).sum())


def test_beam_search_scores_at_least_greedy(tiny_t5):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_t5)
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_t5).eval()
    for text in ["red cat dog", "sun moon", "tree rock fish star", "blue bird"]:
        enc = tok([text], return_tensors="pt")
        fixed = {"max_new_tokens": 5, "min_new_tokens": 5}  # same length: scores compare directly
        greedy = GenerationConfig(**fixed).generate_kwargs()
        beam = GenerationConfig(strategy="beam", num_beams=6, length_penalty=0.0, **fixed).generate_kwargs()
        with torch.no_grad():
            g = model.generate(**enc, **greedy)[0]
            b = model.generate(**enc, **beam)[0]
        sg, sb = (_log_prob(model, enc.input_ids, enc.attention_mask, s) for s in (g, b))
        assert sb >= sg - 1e-4, (text, sb, sg)
    assert GenerationConfig(strategy="beam", num_beams=6).generate_kwargs()["num_beams"] == 6


def test_left_padded_prompts_generate_as_alone(tiny_gpt2):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_gpt2)
    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2).eval()
    prompts = [tok(t, add_special_tokens=False)["input_ids"] for t in ["red cat dog bird sun", "moon"]]
    kwargs = GenerationConfig(max_new_tokens=6, min_new_tokens=6).generate_kwargs()
    together = generate_texts(model, tok, prompts, kwargs, Inference(batch_size=2), left_pad=True)
    alone = [
        generate_texts(model, tok, [p], kwargs, Inference(batch_size=1), left_pad=True)[0] for p in prompts
    ]
    assert together == alone
    assert all(t for t in together)  # the prompt is cut off: only new text comes back


def test_sampling_is_seeded_and_leaves_the_callers_rng_alone(tiny_t5):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_t5)
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_t5).eval()
    prompts = [tok(t)["input_ids"] for t in ["red cat", "sun moon star", "fish"]]
    kwargs = GenerationConfig(strategy="sample", max_new_tokens=8, min_new_tokens=8).generate_kwargs()
    run = Inference(batch_size=2)

    def sample(seed):
        return generate_texts(model, tok, prompts, kwargs, run, left_pad=False, seed=seed)

    torch.manual_seed(123)
    first = sample(5)
    after = torch.rand(1)
    torch.manual_seed(123)
    assert sample(5) == first
    assert torch.equal(torch.rand(1), after)  # the global RNG is where it was
    assert sample(6) != first


def test_evaluation_loss_is_the_token_weighted_mean(tiny_t5):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from rawtune.config.schema import FinetuneConfig
    from rawtune.data.readers.generation import GenExample
    from rawtune.tasks.base import get_task

    tok = AutoTokenizer.from_pretrained(tiny_t5)
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_t5).eval()
    task = get_task(FinetuneConfig(task={"name": "seq2seq"}))
    texts = ["red", "sun moon star fish tree", "cat dog", "rock", "blue bird green"]
    features = task.encode(tok, [GenExample(t, t, "f", i) for i, t in enumerate(texts)])
    m = teacher_forced(
        task.train_module(model, None, None), features, task.collator(tok), Inference(batch_size=2)
    )
    with torch.no_grad():  # one batch: transformers' mean over every labelled token
        expected = float(model(**task.collator(tok)(features)).loss)
    assert m["loss"] == pytest.approx(expected, rel=1e-5)
    assert m["perplexity"] == pytest.approx(math.exp(expected), rel=1e-5)
