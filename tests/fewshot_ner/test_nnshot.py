"""Few-shot NER by nearest labeled word (NNShot) and by type prototypes."""

from __future__ import annotations

import torch
from transformers import AutoModel, AutoTokenizer

from rawtune.tasks.fewshot_ner import WordNeighbours, embed_words, io_labels, to_iob2


def test_io_round_trip_and_runs_become_entities():
    assert io_labels(["B-PER", "I-PER", "O", "B-LOC"]) == ["PER", "PER", "O", "LOC"]
    assert to_iob2(["PER", "PER", "O", "LOC", "LOC", "ORG"]) == [
        "B-PER",
        "I-PER",
        "O",
        "B-LOC",
        "I-LOC",
        "B-ORG",
    ]
    assert to_iob2(io_labels(["B-PER", "I-PER", "B-PER"])) == ["B-PER", "I-PER", "I-PER"]  # IO merges


def unit(*v: float) -> torch.Tensor:
    t = torch.tensor(v, dtype=torch.float32)
    return t / t.norm()


def test_nnshot_takes_the_nearest_word_and_proto_the_nearest_mean():
    # support: two PER words near (1, 0), O words at (0, 1) and (0.6, 0.8)
    support = [torch.stack([unit(1, 0), unit(0.9, 0.1), unit(0, 1), unit(0.6, 0.8)])]
    tags = [["B-PER", "I-PER", "O", "O"]]
    query = [torch.stack([unit(0.95, 0.05), unit(0.1, 1), unit(0.62, 0.78)])]
    nn = WordNeighbours.from_support(support, tags, "nnshot")
    assert nn.predict(query) == [["B-PER", "O", "O"]]
    # prototypes: PER mean ~ (0.95, 0.05), O mean ~ (0.3, 0.9): (0.62, 0.78) is nearer O's mean too,
    # but (0.8, 0.6) is nearer PER's mean while its nearest single word is the O word (0.6, 0.8)
    q2 = [torch.stack([unit(0.8, 0.6)])]
    assert WordNeighbours.from_support(support, tags, "nnshot").predict(q2) == [["O"]]
    assert WordNeighbours.from_support(support, tags, "proto").predict(q2) == [["B-PER"]]


def test_word_vectors_are_the_first_sub_token_of_each_word(tiny_backbone):
    tok = AutoTokenizer.from_pretrained(tiny_backbone)
    model = AutoModel.from_pretrained(tiny_backbone)
    words = ["Cardiomyopathy", "was", "found", "in", "Nairobi"]
    (vectors,) = embed_words(model, tok, [words])
    enc = tok([words], is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state[0]
    ids = enc.word_ids(0)
    firsts = [ids.index(w) for w in range(len(words))]
    expected = torch.nn.functional.normalize(hidden[firsts], dim=-1)
    assert vectors.shape == (5, model.config.hidden_size)
    assert torch.allclose(vectors, expected, atol=1e-5)
    # the same words batched with a longer sentence (padding) give the same vectors
    _, again = embed_words(model, tok, [[*words, "and", "more", "words", "here"], words])
    assert torch.allclose(again, vectors, atol=1e-5)
