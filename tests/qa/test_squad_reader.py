"""SQuAD JSON / JSONL reading: v1.1 and v2.0 shapes, and every bad input named by file and line
(JSONL) or JSON path and question id, and field; answer_start mismatches refused or repaired."""

from __future__ import annotations

import json

import pytest
from squad_fakes import make_questions, write_squad

from rawtune.data.readers.squad import read_squad
from rawtune.errors import DataError
from rawtune.stages.finetune import run_finetune

CONTEXT = "Paris is the capital of France. Paris is large."


def _json(tmp_path, qas, version="1.1", name="d.json"):
    path = tmp_path / name
    doc = {
        "version": version,
        "data": [
            {"title": "t", "paragraphs": [{"context": "x y", "qas": []}, {"context": CONTEXT, "qas": qas}]}
        ],
    }
    path.write_text(json.dumps(doc))
    return str(path)


def _jsonl(tmp_path, rows):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return str(path)


def _row(**kw):
    row = {
        "id": "a",
        "question": "capital?",
        "context": CONTEXT,
        "answers": {"text": ["Paris"], "answer_start": [0]},
    }
    return {**row, **kw}


def test_v1_and_v2_json_and_jsonl_read_alike(tmp_path):
    qas = [
        {
            "id": "q1",
            "question": "capital?",
            "answers": [{"text": "France", "answer_start": 24}, {"text": "Paris", "answer_start": 0}],
        },
        {"id": "q2", "question": "moon?", "answers": [], "is_impossible": True, "plausible_answers": []},
    ]
    data = read_squad(_json(tmp_path, qas, version="v2.0"))
    assert data.version == "v2.0" and len(data.examples) == 2 and data.unanswerable == 1
    a = data.examples[0]
    assert [(x.text, x.start, x.end) for x in a.answers] == [("France", 24, 30), ("Paris", 0, 5)]
    assert a.id == "q1" and a.where == "data[0].paragraphs[1].qas[0] (id q1)" and a.line == 1
    assert data.examples[1].answers == () and data.examples[1].line == 2
    jl = read_squad(_jsonl(tmp_path, [_row(), "", _row(id="b", answers={"text": [], "answer_start": []})]))
    assert [ex.line for ex in jl.examples] == [1, 3] and jl.examples[1].answers == () and jl.unanswerable == 1
    unlabeled = read_squad(_jsonl(tmp_path, [{"question": "q?", "context": "c"}]), labeled=False)
    assert unlabeled.examples[0].answers is None and unlabeled.examples[0].id == "line 1"


@pytest.mark.parametrize(
    "row, field",
    [
        ({"context": CONTEXT, "answers": {"text": ["Paris"], "answer_start": [0]}}, "question"),
        (_row(context=" "), "context"),
        (_row(answers={"text": ["Paris", "France"], "answer_start": [0]}), "answers"),
        (_row(answers=["Paris"]), "answers"),
        (_row(answers={"text": ["Paris"], "answer_start": ["0"]}), "answers[0].answer_start"),
        (_row(answers={"text": ["Lyon"], "answer_start": [0]}), "answers[0].text"),
    ],
)
def test_jsonl_errors_name_file_line_and_field(tmp_path, row, field):
    path = _jsonl(tmp_path, [_row(), row])
    with pytest.raises(DataError) as e:
        read_squad(path)
    assert (e.value.file, e.value.line, e.value.field) == (path, 2, field)
    assert str(e.value).startswith(f"{path}:2: {field}: ")


def test_json_errors_name_the_question(tmp_path):
    path = _json(tmp_path, [{"id": "q7", "question": "capital?", "answers": []}])
    with pytest.raises(
        DataError, match=r"d\.json: data\[0\]\.paragraphs\[1\]\.qas\[0\] \(id q7\): answers: no answers"
    ):
        read_squad(path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [\n{"paragraphs": [}]}')
    with pytest.raises(DataError, match=r"bad\.json:2: invalid JSON"):
        read_squad(str(bad))
    bad.write_text(json.dumps({"data": [{"title": "no paragraphs"}]}))
    with pytest.raises(DataError, match=r"data\[0\]\.paragraphs: expected a list, got missing"):
        read_squad(str(bad))
    with pytest.raises(DataError, match="unsupported file type"):
        read_squad(str(tmp_path / "d.csv"))


def test_answer_start_mismatch_is_refused_or_repaired_to_the_nearest_occurrence(tmp_path):
    second = CONTEXT.rindex("Paris")  # 32
    row = _row(answers={"text": ["Paris"], "answer_start": [second - 3]})
    path = _jsonl(tmp_path, [row])
    with pytest.raises(DataError) as e:
        read_squad(path)
    assert e.value.line == 1 and e.value.field == "answers[0].answer_start"
    assert "repair_answers" in str(e.value) and "[0, 32]" in str(e.value)
    data = read_squad(path, repair=True)
    assert data.examples[0].answers[0].start == second and data.answer_repairs == 1
    near_first = _jsonl(tmp_path, [_row(answers={"text": ["Paris"], "answer_start": [3]})])
    assert read_squad(near_first, repair=True).examples[0].answers[0].start == 0
    missing = _jsonl(tmp_path, [_row(answers={"text": ["Lyon"], "answer_start": [0]})])
    with pytest.raises(DataError, match="does not occur in the context"):
        read_squad(missing, repair=True)  # nothing to repair to


def test_unanswerable_training_data_needs_the_flag(qa_config, tmp_path):
    v2 = write_squad(tmp_path / "v2.json", make_questions(32, 5, unanswerable=0.3), version="v2.0")
    cfg = qa_config(data={"train": str(v2), "dev": str(v2)}, train={"max_steps": 2, "eval_steps": 2})
    with pytest.raises(DataError, match=r"unanswerable question\(s\).*--task.unanswerable=true"):
        run_finetune(cfg)
    assert not (tmp_path / "run").exists()  # refused before anything is written
    run = run_finetune({**cfg, "task": {"name": "qa", "unanswerable": True}})
    dev = json.loads(run.metrics_json.read_text())["dev"]
    n_no = sum(1 for q in make_questions(32, 5, unanswerable=0.3) if not q["answers"])
    assert dev["NoAns_total"] == n_no > 0 and dev["HasAns_total"] == 32 - n_no
    stats = json.loads((run.path / "data_stats.json").read_text())
    assert stats["train"]["unanswerable"] == n_no
