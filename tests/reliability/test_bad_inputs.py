"""D1-D5, config and flags: every case of bad_inputs.py handed to `rawtune finetune` (or `rawtune
pretrain`, for corpora) in-process. Each must exit 2 with one error line naming the file (and the
line / field / key where the case says), print no traceback and leave no output directory."""

from __future__ import annotations

import json

import pytest
from bad_inputs import BAD_INPUTS, CTX, GEN_OK, REL_NO, REL_OK, BadInput, _jl

from rawtune.cli.main import main

# a valid training file per task, for the cases that break only the dev file (or a flag)
GOOD = {
    "qa": json.dumps(
        {
            "data": [
                {
                    "title": "t",
                    "paragraphs": [
                        {
                            "context": CTX,
                            "qas": [
                                {
                                    "id": f"q{i}",
                                    "question": "Where was Ada born?",
                                    "answers": [{"text": "London", "answer_start": 25}],
                                }
                                for i in range(3)
                            ],
                        }
                    ],
                }
            ]
        }
    ).encode(),
    "relations": _jl(REL_OK, REL_NO),
    "seq2seq": _jl(GEN_OK, GEN_OK),
    "causal": _jl({"text": "a cat sat"}, {"text": "a dog ran"}),
}


def run_cli(argv: list[str], capfd) -> tuple[int, str, BaseException | None]:
    """main(argv) in this process -> (exit code, stderr, the exception that escaped main, if any)."""
    crash = None
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code if isinstance(e.code, int) else 2
    except Exception as e:  # a crash: main let it through (the CLI would print a traceback)
        code, crash = -1, e
    err = capfd.readouterr().err
    return code, err, crash


def argv_for(
    case: BadInput, tmp_path, tiny_backbone, ner_data, cls_data, tiny_tokenizer
) -> tuple[list[str], str]:
    """The command line of a case and the file name its error must name."""
    out = tmp_path / "run"
    subs = {"{ner_train}": str(ner_data["train"]), "{tmp}": str(tmp_path)}

    def sub(text: str) -> str:
        for k, v in subs.items():
            text = text.replace(k, v)
        return text

    flags = [sub(f) for f in case.flags]
    path = ""
    if case.name:
        if case.name.startswith("/"):
            path = case.name
        elif case.name.endswith("/"):
            (tmp_path / case.name).mkdir()
            path = str(tmp_path / case.name.rstrip("/"))
        else:
            (tmp_path / "in").mkdir(exist_ok=True)
            path = str(tmp_path / "in" / case.name)
            with open(path, "wb") as f:
                f.write(case.content)
    if case.task == "corpus":
        argv = [
            "pretrain",
            "--model.init=scratch",
            "--model.arch=bert",
            "--model.layers=1",
            "--model.hidden=32",
            "--model.heads=2",
            "--model.intermediate=64",
            f"--tokenizer.path={tiny_tokenizer.name_or_path}",
            f"--data.corpus=[{path}]",
            f"--data.cache_dir={tmp_path / 'cache'}",
            "--train.max_steps=1",
            "--train.threads=1",
            f"--output={out}",
            *flags,
        ]
        return argv, path
    base = [f"--model={tiny_backbone}", f"--output={out}", "--train.threads=1", "--train.max_steps=1"]
    if case.task == "config":
        if path:  # a YAML config: the data comes from flags, the task from the file where it has one
            argv = ["finetune", f"--config={path}", *base, f"--train={ner_data['train']}", *flags]
        else:
            argv = ["finetune", "--task=ner", *base, f"--train={ner_data['train']}", *flags]
        return argv, path  # a flag: the key names it
    task = {"ner": "ner", "classification": "classification", "pairs": "pairs"}.get(case.task, case.task)
    if task in ("seq2seq", "causal"):
        base += ["--init=scratch", f"--arch={'t5' if task == 'seq2seq' else 'gpt2'}"]
        base.remove(f"--model={tiny_backbone}")
    if case.split == "dev":
        if task in GOOD:
            good = tmp_path / "good.train"
            good = good.with_suffix(".json" if task == "qa" else ".jsonl")
            good.write_bytes(GOOD[task])
        elif task == "pairs":
            good = tmp_path / "good.tsv"
            good.write_text("text\ttext_b\tlabel\na\tb\tsame\nc\td\tdifferent\n")
        else:
            good = ner_data["train"] if task == "ner" else cls_data["train"]
        data = [f"--train={good}", f"--dev={path}"]
    else:
        data = [f"--train={path}"]
    return ["finetune", f"--task={task}", *base, *data, *flags], path


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.id)
def test_bad_input_is_one_actionable_error(
    case, tmp_path, tiny_backbone, ner_data, cls_data, tiny_tokenizer, capfd, figures, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # a payload that writes a relative file would write it here
    argv, named = argv_for(case, tmp_path, tiny_backbone, ner_data, cls_data, tiny_tokenizer)
    code, err, crash = run_cli(argv, capfd)
    errors = [ln for ln in err.splitlines() if ": error:" in ln]
    message = errors[0] if errors else ""
    expect = [named] if named else []
    if case.line is not None:
        expect.append(f":{case.line}")
    if case.key:
        expect.append(case.key.replace("{ner_train}", str(ner_data["train"])))
    actionable = code == 2 and len(errors) == 1 and all(e in message for e in expect)
    written = (tmp_path / "run").exists()
    traceback = "Traceback (most recent call last)" in err
    figures(
        "bad_input",
        category=case.category,
        case=case.id,
        rejected=code == 2,
        actionable=actionable and not traceback,
        silent=code == 0,
        crash=crash is not None or traceback,
        written=written,
    )
    assert crash is None, f"crashed: {crash!r}"
    assert code == 2, f"exit {code}, stderr:\n{err[-2000:]}"
    assert not traceback, err[-3000:]
    assert len(errors) == 1, err[-2000:]
    for e in expect:
        assert e in message, f"{e!r} not in {message!r}"
    assert not written, "a run directory was created"
    assert not list(tmp_path.glob("*pwned*")), "a payload ran"
