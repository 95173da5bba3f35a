"""`rawtune augment` end to end (files in the format read, read back by the project's own readers,
the counts on stdout and in the sidecar) and `rawtune finetune --augment N`."""

from __future__ import annotations

import csv
import json

import pytest

from rawtune.cli.main import main
from rawtune.data.readers.labeled import read_text_table, read_token_file


def _error_lines(err):
    return [ln for ln in err.splitlines() if "error:" in ln]


def _augment(capsys, *argv):
    code = main(["augment", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_conll_end_to_end_round_trips(capsys, tiny_mlm, ner_data, tmp_path):
    out = tmp_path / "train.aug.conll"
    code, stdout, err = _augment(
        capsys, "--model", tiny_mlm, "--input", ner_data["train"], "--output", out, "--factor", 3,
        "--fraction", 0.3, "--seed", 0, "--entity-swap",
    )  # fmt: skip
    assert code == 0, err
    src = read_token_file(str(ner_data["train"])).examples
    got = read_token_file(str(out))
    assert got.scheme == "iob2" and got.n_docs == read_token_file(str(ner_data["train"])).n_docs
    assert len(got.examples) == 4 * len(src)
    for i, ex in enumerate(src):  # each original, unchanged, then its 3 copies
        assert got.examples[4 * i].tokens == ex.tokens and got.examples[4 * i].tags == ex.tags
    stats = json.loads((tmp_path / "train.aug.conll.augment.json").read_text())
    assert stats["examples_in"] == len(src) and stats["examples_out"] == 4 * len(src)
    assert stats["methods"] == ["mlm", "swap"] and stats["entities_swapped"] > 0
    changed = sum(a != b for i, ex in enumerate(src) for c in (1, 2, 3)
                  for a, b, t in zip(ex.tokens, got.examples[4 * i + c].tokens, ex.tags) if t == "O")  # fmt: skip
    assert stats["words_replaced"] > 0 and changed >= stats["words_replaced"] * 0.5
    assert f"{stats['words_replaced']} words replaced" in stdout
    assert f"{stats['entities_swapped']} of {stats['entity_mentions']} entity mentions swapped" in stdout
    # the same command with the same seed writes the same file
    again = tmp_path / "again.conll"
    argv = (
        "--model",
        tiny_mlm,
        "--input",
        ner_data["train"],
        "--output",
        again,
        "--factor",
        3,
        "--fraction",
        0.3,
    )
    assert _augment(capsys, *argv, "--seed", 0, "--entity-swap")[0] == 0
    assert again.read_text() == out.read_text()
    assert _augment(capsys, *argv, "--seed", 1, "--entity-swap", "--overwrite")[0] == 0
    assert again.read_text() != out.read_text()


def test_conll_keeps_columns_and_scheme(capsys, tiny_mlm, tmp_path):
    src = tmp_path / "bioes.conll"
    sents = [
        [("Maria", "NNP", "B-PER"), ("Lopez", "NNP", "E-PER"), ("visited", "VBD", "O"), ("Paris", "NNP", "S-LOC"),
         ("last", "JJ", "O"), ("week", "NN", "O"), (".", ".", "O")],
        [("John", "NNP", "S-PER"), ("met", "VBD", "O"), ("the", "DT", "O"), ("new", "JJ", "O"),
         ("Blue", "NNP", "B-ORG"), ("River", "NNP", "I-ORG"), ("Energy", "NNP", "E-ORG"), ("team", "NN", "O")],
    ]  # fmt: skip
    src.write_text("\n\n".join("\n".join("\t".join(r) for r in s) for s in sents) + "\n")
    out = tmp_path / "out.conll"
    code, _, err = _augment(capsys, "--model", tiny_mlm, "--input", src, "--output", out, "--factor", 4,
                            "--fraction", 0.5, "--entity-swap", "--swap-prob", 1.0)  # fmt: skip
    assert code == 0, err
    rows = [ln.split("\t") for ln in out.read_text().splitlines() if ln]
    assert all(len(r) == 3 for r in rows)  # tab-separated, the POS column kept
    assert {r[2][:2] for r in rows} <= {"B-", "I-", "E-", "S-", "O"} and any(
        r[2].startswith("S-") for r in rows
    )
    got = read_token_file(str(out))
    assert got.scheme == "bioes" and len(got.examples) == 10
    # swapped-in mentions carry their own POS; a word the MLM replaced keeps the POS of its position
    by_word = {r[0]: r[1] for s in sents for r in s if r[2] != "O"}
    assert all(r[1] == by_word[r[0]] for r in rows if r[2] != "O")


def test_ner_jsonl_keeps_fields(capsys, tiny_mlm, tmp_path):
    src = tmp_path / "train.jsonl"
    lines = [
        {"id": 1, "tokens": ["Maria", "Lopez", "visited", "the", "old", "city", "of", "Paris"],
         "tags": ["B-PER", "I-PER", "O", "O", "O", "O", "O", "B-LOC"], "source": "x"},
        {"id": 2, "tokens": ["John", "said", "that", "Rome", "was", "very", "warm", "today"],
         "tags": ["B-PER", "O", "O", "B-LOC", "O", "O", "O", "O"], "source": "y"},
    ]  # fmt: skip
    src.write_text("".join(json.dumps(obj) + "\n" for obj in lines))
    out = tmp_path / "out.jsonl"
    assert _augment(capsys, "--model", tiny_mlm, "--input", src, "--output", out, "--factor", 2)[0] == 0
    objs = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert [o["id"] for o in objs] == [1, 1, 1, 2, 2, 2] and [o["source"] for o in objs][:3] == ["x"] * 3
    got = read_token_file(str(out)).examples
    assert [ex.tags for ex in got] == [lines[0]["tags"]] * 3 + [lines[1]["tags"]] * 3


@pytest.mark.parametrize("suffix", ["csv", "tsv", "jsonl"])
def test_classification_keeps_labels_and_columns(capsys, tiny_mlm, cls_data, tmp_path, suffix):
    with open(cls_data["train"]) as f:
        rows = list(csv.DictReader(f))
    src = tmp_path / f"train.{suffix}"
    if suffix == "jsonl":
        src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        sep = "," if suffix == "csv" else "\t"
        src.write_text(
            "\n".join(
                sep.join(r[c] for c in ("id", "text", "label")) for r in [dict(zip(rows[0], rows[0])), *rows]
            )
            + "\n"
        )
    out = tmp_path / f"out.{suffix}"
    code, _, err = _augment(
        capsys, "--model", tiny_mlm, "--input", src, "--output", out, "--factor", 2, "--fraction", 0.4
    )
    assert code == 0, err
    before, after = read_text_table(str(src)).examples, read_text_table(str(out)).examples
    assert len(after) == 3 * len(before)
    changed = 0
    for i, ex in enumerate(before):
        group = after[3 * i : 3 * i + 3]
        assert group[0].text == ex.text and {g.label for g in group} == {ex.label}
        changed += sum(g.text != ex.text for g in group[1:])
        assert all(len(g.text.split()) == len(ex.text.split()) for g in group)
    assert changed > len(before)  # most copies differ from their original
    stats = json.loads(out.with_name(out.name + ".augment.json").read_text())
    assert stats["examples_out"] == len(after) and stats["format"] == "table"
    assert read_text_table(str(out)).columns == read_text_table(str(src)).columns


def test_bad_input_is_one_line_exit_2(capsys, tiny_mlm, tiny_backbone, ner_data, tmp_path):
    out = tmp_path / "o.conll"
    code, _, err = _augment(capsys, "--model", tiny_mlm, "--input", tmp_path / "nope.conll", "--output", out)
    assert code == 2 and "nope.conll" in err and len(_error_lines(err)) == 1
    code, _, err = _augment(capsys, "--model", tiny_backbone, "--input", ner_data["train"], "--output", out)
    assert code == 2 and "masked-LM head" in err and len(_error_lines(err)) == 1 and not out.exists()
    code, _, err = _augment(
        capsys, "--model", tiny_mlm, "--input", ner_data["train"], "--output", out, "--fraction", 0
    )
    assert code == 2 and "fraction" in err
    code, _, err = _augment(
        capsys, "--model", tiny_mlm, "--input", ner_data["train"], "--output", tmp_path / "o.csv"
    )
    assert code == 2 and "format" in err


def test_finetune_augment_trains_on_the_larger_set(capsys, tiny_mlm, tiny_backbone, ner_data, tmp_path):
    base = ["finetune", "--task", "ner", "--train", str(ner_data["train"]), "--dev", str(ner_data["dev"]),
            "--train.max_steps=2", "--train.eval_steps=2", "--train.save_steps=2", "--train.batch_size=8",
            "--train.threads=1", "--train.progress=false", "--data.max_length=64", "--data.stride=16"]  # fmt: skip
    code = main([*base, "--model", str(tiny_mlm), "--output", str(tmp_path / "run"), "--augment", "2"])
    err = capsys.readouterr().err
    assert code == 0, err
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    n = len(read_token_file(str(ner_data["train"])).examples)
    assert manifest["data"]["train"]["examples"] == 3 * n and manifest["data"]["dev"]["examples"] == 24
    aug = manifest["augmentation"]
    assert aug["examples_in"] == n and aug["examples_out"] == 3 * n and aug["words_replaced"] > 0
    assert aug["model"] == str(tiny_mlm)
    resolved = (tmp_path / "run" / "config.yaml").read_text()
    assert "augment:" in resolved and "factor: 2" in resolved
    # the default augmentation model is the backbone: refused when it has no MLM head, naming the flag
    code = main([*base, "--model", str(tiny_backbone), "--output", str(tmp_path / "run2"), "--augment", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "--augment-model" in err and len(_error_lines(err)) == 1
    code = main([*base, "--model", str(tiny_backbone), "--output", str(tmp_path / "run3"), "--augment", "1",
                 "--augment-model", str(tiny_mlm)])  # fmt: skip
    assert code == 0, capsys.readouterr().err


def test_python_api_swap_only_needs_no_model(ner_data, tmp_path):
    import rawtune

    out = tmp_path / "swapped.conll"
    cfg = {"input": str(ner_data["train"]), "output": str(out), "methods": ["swap"], "factor": 2, "seed": 3}
    stats = rawtune.augment({**cfg, "swap_prob": 1.0})
    assert stats["words_replaced"] == 0 and stats["entities_swapped"] > 0.9 * stats["entity_mentions"]
    src = read_token_file(str(ner_data["train"])).examples
    got = read_token_file(str(out)).examples
    assert len(got) == 3 * len(src)
    for i, ex in enumerate(src):  # outside entities every copy is its original
        for copy in got[3 * i + 1 : 3 * i + 3]:
            assert [w for w, t in zip(copy.tokens, copy.tags) if t == "O"] == [
                w for w, t in zip(ex.tokens, ex.tags) if t == "O"
            ]
