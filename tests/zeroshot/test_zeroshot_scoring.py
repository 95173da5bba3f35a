"""Zero-shot scoring: cloze and NLI scores equal the logits computed by hand on tiny random models;
models without the needed head or label are refused; the embedding method separates obvious topics
with the packaged MiniLM."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rawtune.config.loader import load_config
from rawtune.config.model import ModelConfig
from rawtune.errors import ConfigError, ModelError
from rawtune.modeling.backbone import Source, load_tokenizer
from rawtune.modeling.zeroshot import load_encoder, load_mlm, load_nli, sentence_pooling
from rawtune.tasks import zeroshot as Z

TEXTS = ["the film was good and fine", "the meal was awful and dull", "the hotel was poor"]


def _tiny_config(tok, **extra):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=tok.pad_token_id,
        **extra,
    )


@pytest.fixture(scope="module")
def tok(tiny_backbone):
    return load_tokenizer(str(tiny_backbone))


@pytest.fixture(scope="module")
def mlm_dir(tmp_path_factory, tok) -> Path:
    from transformers import BertForMaskedLM

    torch.manual_seed(1)
    out = tmp_path_factory.mktemp("zs") / "mlm"
    BertForMaskedLM(_tiny_config(tok)).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def nli_dir(tmp_path_factory, tok) -> Path:
    from transformers import BertForSequenceClassification

    torch.manual_seed(2)
    labels = {0: "entailment", 1: "neutral", 2: "contradiction"}
    config = _tiny_config(tok, num_labels=3, id2label=labels, label2id={v: k for k, v in labels.items()})
    out = tmp_path_factory.mktemp("zs") / "nli"
    BertForSequenceClassification(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _src(path: Path) -> Source:
    return Source(str(path), "local")


def test_cloze_score_is_the_mlm_logit_at_the_mask(mlm_dir, tok):
    model = load_mlm(_src(mlm_dir), ModelConfig())
    ids = Z.verbalizer_ids(tok, {"pos": "good", "neg": "bad"}, ["pos", "neg"])
    assert tok.convert_ids_to_tokens(ids) == ["good", "bad"]
    prompts = Z.cloze_prompts(tok, TEXTS, "{text} It was {mask}.", 128)
    assert prompts[0] == f"{TEXTS[0]} It was {tok.mask_token}."
    scores = Z.cloze_scores(model, tok, prompts, ids, batch_size=2)
    assert scores.shape == (3, 2)
    for i, prompt in enumerate(prompts):  # one at a time, no padding, full vocabulary logits
        enc = tok(prompt, return_tensors="pt")
        with torch.no_grad():
            logits = model(**enc).logits[0]
        at = int((enc["input_ids"][0] == tok.mask_token_id).nonzero())
        expected = logits[at, ids].numpy()
        assert scores[i] == pytest.approx(expected, abs=1e-4)


def test_cloze_long_text_is_cut_so_the_mask_survives(tok):
    long = " ".join(["the film was good"] * 100)
    (prompt,) = Z.cloze_prompts(tok, [long], "{text} It was {mask}.", 32)
    enc = tok(prompt)["input_ids"]
    assert len(enc) <= 32 and tok.mask_token_id in enc


def test_multi_token_verbalizer_refused_naming_the_word(tok):
    word = "unflinchingly"
    assert len(tok.tokenize(word)) > 1
    with pytest.raises(ConfigError) as e:
        Z.verbalizer_ids(tok, {"pos": "good", "neg": word}, ["pos", "neg"])
    assert word in str(e.value) and "verbalizer.neg" in str(e.value)
    assert str(tok.tokenize(word)) in str(e.value)


def test_model_without_mlm_head_refused(tiny_backbone):
    with pytest.raises(ModelError, match="no masked-LM head"):
        load_mlm(_src(tiny_backbone), ModelConfig())


def test_nli_scores_are_entailment_logits(nli_dir, tok):
    model, entail = load_nli(_src(nli_dir), ModelConfig())
    assert entail == 0
    hyps = [["This example is positive."], ["This example is negative.", "This example is bad."]]
    scores = Z.nli_scores(model, tok, TEXTS, hyps, entail, batch_size=4)
    assert scores.shape == (3, 2)
    for i, text in enumerate(TEXTS):
        for j, label_hyps in enumerate(hyps):
            logits = []
            for h in label_hyps:
                with torch.no_grad():
                    logits.append(float(model(**tok(text, h, return_tensors="pt")).logits[0, 0]))
            assert scores[i, j] == pytest.approx(sum(logits) / len(logits), abs=1e-4)


def test_nli_without_entailment_label_refused(tmp_path, tok):
    from transformers import BertForSequenceClassification

    out = tmp_path / "cls"
    BertForSequenceClassification(_tiny_config(tok, num_labels=2)).save_pretrained(out)
    with pytest.raises(ModelError, match="entailment"):
        load_nli(_src(out), ModelConfig())


def test_config_checks_template_and_verbalizer():
    base = {"output": "o", "data.file": "d.csv", "model.name_or_path": "m", "labels": "pos,neg"}
    cfg = load_config("zeroshot", overrides={**base, "method": "nli"})
    assert cfg.template == "This example is {label}." and cfg.labels == ["pos", "neg"]
    with pytest.raises(ConfigError, match="missing"):
        load_config("zeroshot", overrides={**base, "method": "cloze", "verbalizer": "pos=good"})
    with pytest.raises(ConfigError, match=r"\{mask\}"):
        load_config(
            "zeroshot",
            overrides={**base, "method": "cloze", "template": "{text}", "verbalizer": "pos=a,neg=b"},
        )
    with pytest.raises(ConfigError, match="labels not in"):
        load_config("zeroshot", overrides={**base, "descriptions": {"other": "x"}})


SENTENCES = {
    "sports": [
        "The striker scored twice in the final minutes of the match.",
        "The tennis champion won the tournament in straight sets.",
        "Our basketball team lost the game by three points.",
        "The marathon runner broke the world record this morning.",
    ],
    "politics": [
        "The senate passed the budget bill after a long debate.",
        "The president signed an executive order on immigration.",
        "Voters head to the polls in the parliamentary election today.",
        "The opposition party called for the minister to resign.",
    ],
    "food": [
        "Add the garlic and simmer the tomato sauce for ten minutes.",
        "This chocolate cake recipe needs butter, sugar and eggs.",
        "The restaurant serves fresh sushi and grilled fish.",
        "Bake the bread until the crust is golden brown.",
    ],
}


def test_embedding_separates_obvious_topics_with_minilm(minilm_path):
    src = _src(minilm_path)
    pooling = sentence_pooling(src.ref)
    assert (pooling.mode, pooling.normalize) == ("mean", True)
    model, tok = load_encoder(src, ModelConfig()), load_tokenizer(src.ref)
    labels = list(SENTENCES)
    texts = [t for lab in labels for t in SENTENCES[lab]]
    gold = [lab for lab in labels for _ in SENTENCES[lab]]
    scores = Z.embedding_scores(model, tok, texts, Z.describe(labels, {}), pooling, batch_size=5)
    pred = [labels[j] for j in scores.argmax(1)]
    accuracy = sum(p == g for p, g in zip(pred, gold)) / len(gold)
    assert accuracy >= 0.8, list(zip(texts, pred))


def test_embedding_pooling_matches_a_by_hand_mean(minilm_path):
    src = _src(minilm_path)
    model, tok = load_encoder(src, ModelConfig()), load_tokenizer(src.ref)
    texts = ["a short one", "a much longer sentence that needs padding in its batch"]
    got = Z.embed(model, tok, texts, sentence_pooling(src.ref), batch_size=2)
    for i, text in enumerate(texts):  # alone: no padding, a plain mean over every token
        with torch.no_grad():
            hidden = model(**tok(text, return_tensors="pt")).last_hidden_state[0]
        expected = torch.nn.functional.normalize(hidden.mean(0), dim=-1)
        assert torch.allclose(got[i], expected, atol=1e-4)


def test_describe_defaults_to_the_label_name():
    assert Z.describe(["sci_tech", "world-news", "x"], {"x": ["an x", "the x"]}) == [
        ["sci tech"],
        ["world news"],
        ["an x", "the x"],
    ]
