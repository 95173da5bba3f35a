"""How generation examples become features: dialogue rendering, reader errors naming file, line and
field, the causal prompt mask, and seq2seq padding that carries no loss."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from rawtune.config.schema import FinetuneConfig
from rawtune.errors import DataError
from rawtune.tasks.base import get_task
from rawtune.tasks.features import IGNORE


def _task(name: str, **data):
    return get_task(FinetuneConfig(task={"name": name}, data={"max_length": 32, "stride": 8, **data}))


def _lines(path, *objs) -> str:
    path.write_text("".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objs))
    return str(path)


def test_dialogue_turns_render_history_and_reply(tmp_path):
    path = _lines(tmp_path / "d.jsonl", {"turns": ["hi", "hello", "how are you", "fine"]})
    ex = _task("causal").read(path).examples[0]
    assert ex.source == "user: hi\nassistant: hello\nuser: how are you\nassistant: "
    assert ex.target == "fine" and ex.line == 1
    chat = [{"role": "sys", "content": "be brief"}, {"role": "bot", "text": "ok"}]
    path = _lines(tmp_path / "m.jsonl", {"messages": chat})
    msgs = _task("causal", turns_field="messages", turn_template="<{role}> {text} ").read(path).examples
    assert msgs[0].source == "<sys> be brief <bot> " and msgs[0].target == "ok"


@pytest.mark.parametrize(
    "lines, line, field, message",
    [
        ([{"source": "a", "target": "b"}, {"source": "a"}], 2, "target", "no column 'target'"),
        ([{"source": "a", "target": "b"}, {"source": 3, "target": "b"}], 2, "source", "expected a string"),
        ([{"source": " ", "target": "b"}], 1, "source", "empty text"),
        ([{"turns": ["only one"]}], 1, "turns", "at least 2 turn"),
        ([{"turns": ["a", {"role": "x"}]}], 1, "turns[1]", "'role' and 'content'"),
        ([{"source": "a", "target": "b"}, "{not json"], 2, None, "invalid JSON"),
    ],
)
def test_reader_errors_name_file_line_and_field(tmp_path, lines, line, field, message):
    path = _lines(tmp_path / "bad.jsonl", *lines)
    with pytest.raises(DataError) as e:
        _task("seq2seq").read(path)
    assert (e.value.file, e.value.line, e.value.field) == (path, line, field)
    assert message in str(e.value) and f"bad.jsonl:{line}" in str(e.value)


def test_custom_field_names_and_unlabeled_input(tmp_path):
    path = _lines(tmp_path / "t.jsonl", {"article": "long text", "summary": "short"})
    task = _task("seq2seq", source_field="article", target_field="summary")
    assert task.read(path).examples[0].target == "short"
    unlabeled = task.read(_lines(tmp_path / "u.jsonl", {"article": "x"}), labeled=False)
    assert unlabeled.examples[0].target is None


def test_causal_labels_mask_the_prompt_and_padding(tiny_gpt2):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rawtune.data.readers.generation import GenExample

    tok = AutoTokenizer.from_pretrained(tiny_gpt2)
    task = _task("causal", source_template="{source} =")
    examples = [GenExample("red cat dog", "blue", "f", 1), GenExample("sun", "moon star fish", "f", 2)]
    features = task.encode(tok, examples)
    for ex, f in zip(examples, features):
        n_prompt = len(tok(ex.source + " =", add_special_tokens=False)["input_ids"])
        reply = tok(ex.target, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        assert f["input_ids"][n_prompt:] == reply
        assert f["labels"] == [IGNORE] * n_prompt + reply
    batch = task.collator(tok)(features)
    longest = max(len(f["input_ids"]) for f in features)
    for row, f in enumerate(features):
        assert (batch["labels"][row, len(f["input_ids"]) :] == IGNORE).all()  # padding: no loss
        assert batch["attention_mask"][row].sum() == len(f["input_ids"])
    assert batch["input_ids"].shape[1] >= longest
    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2).eval()
    with torch.no_grad():
        out = task.train_module(model, None, None)(**batch)
        # by hand: each response token (and eos) predicted from the position before it, nothing else
        logits, targets = [], []
        for f in features:
            ids = torch.tensor([f["input_ids"]])
            row_logits = model(input_ids=ids).logits[0]
            start = f["labels"].index(next(x for x in f["labels"] if x != IGNORE))
            for j in range(start, len(f["input_ids"])):
                logits.append(row_logits[j - 1])
                targets.append(f["input_ids"][j])
        expected = F.cross_entropy(torch.stack(logits), torch.tensor(targets))
    assert out["count"] == len(targets)
    assert float(out["loss"]) == pytest.approx(float(expected), rel=1e-5)


def test_causal_truncation_keeps_the_reply_and_the_end_of_the_prompt():
    from rawtune.tasks.causal import prompt_response

    f = prompt_response(list(range(10)), [20, 21, 22, 23], eos=99, max_length=8, max_target=3)
    assert f["input_ids"] == [5, 6, 7, 8, 9, 20, 21, 99]
    assert f["labels"] == [IGNORE] * 5 + [20, 21, 99]


def test_seq2seq_labels_pad_with_minus_100_and_padding_carries_no_loss(tiny_t5):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from rawtune.data.readers.generation import GenExample

    tok = AutoTokenizer.from_pretrained(tiny_t5)
    task = _task("seq2seq", max_target_length=4)
    examples = [
        GenExample("red cat", "red", "f", 1),
        GenExample("sun moon star fish", "sun moon star fish", "f", 2),
    ]
    features = task.encode(tok, examples)
    assert features[1]["labels"][-1] == tok.eos_token_id and len(features[1]["labels"]) == 4  # truncated
    batch = task.collator(tok)(features)
    short = len(features[0]["labels"])
    assert (batch["labels"][0, short:] == IGNORE).all() and batch["labels"].shape[1] % 8 == 0
    assert batch["labels"][0, :short].tolist() == features[0]["labels"]
    assert (batch["input_ids"][0, len(features[0]["input_ids"]) :] == tok.pad_token_id).all()
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_t5).eval()
    module = task.train_module(model, None, None)
    with torch.no_grad():
        together = module(**batch)
        alone = [module(**task.collator(tok)([f])) for f in features]
        hf_loss = float(model(**task.collator(tok)(features[:1])).loss)  # transformers' own, -100 ignored
    assert together["count"] == sum(len(f["labels"]) for f in features)
    assert float(together["loss_sum"]) == pytest.approx(sum(float(a["loss_sum"]) for a in alone), rel=1e-4)
    assert float(alone[0]["loss"]) == pytest.approx(hf_loss, rel=1e-5)


def test_csv_sources_and_targets_and_txt_for_prediction(tmp_path):
    task = _task("seq2seq")
    (tmp_path / "t.csv").write_text('source,target\n"a, quoted source",b\nc,\n')
    with pytest.raises(DataError) as e:
        task.read(str(tmp_path / "t.csv"))
    assert (e.value.line, e.value.field) == (3, "target")  # the empty target of the second row
    (tmp_path / "u.txt").write_text("first source\n\nsecond source\n")
    data = task.read(str(tmp_path / "u.txt"), labeled=False)
    assert [(ex.source, ex.line) for ex in data.examples] == [("first source", 1), ("second source", 3)]


def test_a_prediction_input_may_be_a_dialogue():
    task = _task("causal")
    ex = task.example({"turns": ["hi", "hello", "tell me more"]}, "<input>")
    assert ex.source == "user: hi\nassistant: hello\nuser: tell me more\nassistant: " and ex.target is None
    chat = [{"role": "user", "content": "hi"}]
    assert task.example({"turns": chat}, "<input>").source == "user: hi\nassistant: "
    with pytest.raises(DataError, match="string or an object"):
        task.example(3, "<input>")


def test_list_sources_join_and_list_targets_are_references(tmp_path):
    row = {"source": ["First sentence.", "", "Second one."], "target": ["tl;dr", "other"]}
    path = _lines(tmp_path / "l.jsonl", row)  # an empty sentence (SciTLDR has them) is left out
    ex = _task("seq2seq").read(path).examples[0]
    assert ex.source == "First sentence. Second one."
    assert ex.target == "tl;dr" and ex.references == ("tl;dr", "other")  # trained on the first, scored on all
    bad = _lines(tmp_path / "b.jsonl", {"source": ["ok", 3], "target": "t"})
    with pytest.raises(DataError) as e:
        _task("seq2seq").read(bad)
    assert (e.value.line, e.value.field) == (1, "source[1]")
    with pytest.raises(DataError, match="no text in the list"):
        _task("seq2seq").read(_lines(tmp_path / "e.jsonl", {"source": [" "], "target": "t"}))
