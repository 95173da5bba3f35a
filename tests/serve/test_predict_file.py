"""`rawtune predict` / `Predictor.predict_file`: what a record holds (NER entities with character
offsets and scores; a class label with every label's probability); records are durable chunk by
chunk in OUT.partial, and a run interrupted anywhere (an exception, a real kill -9, a torn last line)
resumed with --resume writes the same bytes as a run never interrupted; a partial file that is not
this input's is refused, never mixed in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rawtune.cli.main import main
from rawtune.data.labels import is_valid_iob2
from rawtune.errors import DataError, RunDirError
from rawtune.serve.partial import PartialJsonl, chunks
from rawtune.serve.predictor import Predictor, default_chunk
from rawtune.stages.finetune import run_finetune

CHUNK, BATCH = 6, 4  # 35 inputs: 5 full chunks and one of 5


@pytest.fixture(scope="module")
def ner_run(ner_run) -> str:  # the session's tiny NER run, as a path
    return str(ner_run.path)


@pytest.fixture(scope="module")
def pred(ner_run) -> Predictor:
    return Predictor.from_run(ner_run)


@pytest.fixture(scope="module")
def text(tmp_path_factory, ner_data) -> str:
    """35 raw-text lines of varied length after a blank line (skipped, its number kept; a blank line
    between lines would make paragraphs, i.e. documents: see test_txt_paragraphs_are_documents)."""
    lines = ner_data["raw"].read_text().splitlines()[:35]
    lines = [" ".join([ln] * (1 + i % 3)) for i, ln in enumerate(lines)]
    lines.insert(0, "")
    path = tmp_path_factory.mktemp("input") / "in.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def reference(pred, text, tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("ref") / "out.jsonl"
    assert pred.predict_file(text, str(out), chunk=CHUNK, batch_size=BATCH, progress=False) == 35
    assert not os.path.exists(f"{out}.partial")
    return out.read_bytes()


def _interrupt_after(monkeypatch, chunks: int) -> None:
    """Make PartialJsonl.write fail right after its `chunks`-th durable write."""
    real, calls = PartialJsonl.write, []

    def write(self, lines):
        real(self, lines)
        calls.append(len(lines))
        if len(calls) == chunks:
            raise RuntimeError("injected failure")

    monkeypatch.setattr(PartialJsonl, "write", write)


@pytest.mark.parametrize("chunks, torn", [(1, False), (3, True), (5, True), (6, False)])
def test_resume_after_k_chunks_is_byte_identical(pred, text, reference, tmp_path, monkeypatch, chunks, torn):
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    with monkeypatch.context() as m:
        _interrupt_after(m, chunks)
        with pytest.raises(RuntimeError, match="injected"):
            pred.predict_file(text, str(out), chunk=CHUNK, batch_size=BATCH, progress=False)
    assert not out.exists()  # the output appears only complete
    kept = partial.read_bytes()
    assert kept.count(b"\n") == min(chunks * CHUNK, 35)
    assert reference.startswith(kept)  # each chunk was written whole, in order
    if torn:  # the process died inside the next write: half a record, no newline
        nxt = reference[len(kept) :].split(b"\n", 1)[0]
        partial.write_bytes(kept + nxt[: len(nxt) // 2])
    with pytest.raises(RunDirError, match="--resume"):
        pred.predict_file(text, str(out), chunk=CHUNK, batch_size=BATCH, progress=False)
    n = pred.predict_file(text, str(out), chunk=CHUNK, batch_size=BATCH, progress=False, resume=True)
    assert n == 35
    assert out.read_bytes() == reference
    assert not partial.exists()


def test_resume_inside_a_chunk_keeps_every_complete_record(pred, text, reference, tmp_path):
    """A kill inside a chunk's write leaves some of its records whole: they are kept, the rest of that
    chunk is predicted, and the chunks after it are the uninterrupted run's again."""
    out = tmp_path / "out.jsonl"
    lines = reference.split(b"\n")
    (tmp_path / "out.jsonl.partial").write_bytes(b"\n".join(lines[:15]) + b"\n" + lines[15][:9])
    assert pred.predict_file(text, str(out), chunk=CHUNK, batch_size=BATCH, progress=False, resume=True) == 35
    got = out.read_bytes().split(b"\n")
    assert got[:15] == lines[:15]  # kept as they were
    assert got[18:] == lines[18:]  # chunks realigned: from input 19 on, the same batches as before
    mid = [json.loads(x) for x in got[15:18]], [json.loads(x) for x in lines[15:18]]
    assert [(r["source"], r["tags"]) for r in mid[0]] == [(r["source"], r["tags"]) for r in mid[1]]


@pytest.mark.slow
def test_real_kill_9_mid_run(ner_run, text, reference, tmp_path):
    """SIGKILL after two durable chunks, in the middle of writing the third: nothing written is lost."""
    out = tmp_path / "out.jsonl"
    script = textwrap.dedent(
        f"""
        import os, signal
        from rawtune.serve.partial import PartialJsonl
        from rawtune.serve.predictor import Predictor
        real, calls = PartialJsonl.write, []
        def write(self, lines):
            calls.append(1)
            if len(calls) == 3:
                f = self._open()
                f.write(("\\n".join(lines) + "\\n").encode()[:40])  # a torn record, then death
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            real(self, lines)
        PartialJsonl.write = write
        Predictor.from_run({ner_run!r}).predict_file(
            {text!r}, {str(out)!r}, chunk={CHUNK}, batch_size={BATCH}, progress=False
        )
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    kept = (tmp_path / "out.jsonl.partial").read_bytes()
    assert kept.count(b"\n") == 2 * CHUNK and not kept.endswith(b"\n")
    argv = ["predict", ner_run, "--input", text, "--output", str(out), "--no-progress"]
    assert main([*argv, "--batch-size", str(BATCH)]) == 2  # refused without --resume
    pred = Predictor.from_run(ner_run)
    assert pred.predict_file(text, str(out), chunk=CHUNK, batch_size=BATCH, progress=False, resume=True) == 35
    assert out.read_bytes() == reference


def test_cli_resume(ner_run, text, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    argv = ["predict", ner_run, "--input", text, "--output", str(out), "--no-progress", "--threads", "1"]
    assert main(argv) == 0
    full = out.read_bytes()
    (tmp_path / "out.jsonl.partial").write_bytes(b"\n".join(full.split(b"\n")[:7]) + b'\n{"tok')
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "out.jsonl.partial" in err and "--resume" in err and "delete it" in err
    assert main([*argv, "--resume"]) == 0
    assert _tags(out) == _tags(full)  # the 7 kept and 28 more (in smaller batches: scores may differ)
    assert out.read_bytes().startswith(b"\n".join(full.split(b"\n")[:7]))
    assert main([*argv, "--resume"]) == 0  # nothing to resume: a plain run
    assert out.read_bytes() == full


def _tags(data) -> list:
    data = data.read_bytes() if hasattr(data, "read_bytes") else data
    return [(r["source"], r["tags"]) for r in map(json.loads, data.decode().splitlines())]


def test_a_partial_file_that_is_not_ours_is_refused(pred, text, reference, tmp_path):
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    lines = reference.split(b"\n")
    partial.write_bytes(lines[0] + b"\n" + lines[1][:10] + b"\n" + lines[2] + b"\n")
    with pytest.raises(DataError, match=r"partial:2: not a complete JSON record in the middle"):
        pred.predict_file(text, str(out), chunk=CHUNK, progress=False, resume=True)
    other = tmp_path / "a" / "in.txt"  # the same name, elsewhere: fine if it is the same lines
    other.parent.mkdir()
    other.write_text("\n" + Path(text).read_text())  # the same texts, one line later
    partial.write_bytes(b"\n".join(lines[:3]) + b"\n")
    with pytest.raises(DataError, match="does not continue this input: its record 1 is from"):
        pred.predict_file(str(other), str(out), chunk=CHUNK, progress=False, resume=True)
    short = tmp_path / "b" / "in.txt"
    short.parent.mkdir()
    short.write_text("".join(Path(text).read_text().splitlines(keepends=True)[:3]))  # a blank, 2 texts
    with pytest.raises(DataError, match="holds 3 records but the input has only 2"):
        pred.predict_file(str(short), str(out), chunk=CHUNK, progress=False, resume=True)
    assert partial.read_bytes() == b"\n".join(lines[:3]) + b"\n"  # refused: left as it was
    assert not out.exists()
    with pytest.raises(RunDirError, match="directory does not exist"):
        pred.predict_file(text, str(tmp_path / "no" / "out.jsonl"), progress=False)


def test_complete_partial_is_only_renamed(pred, text, reference, tmp_path, monkeypatch):
    """Killed between the last write and the rename: resume predicts nothing and renames."""
    out = tmp_path / "out.jsonl"
    (tmp_path / "out.jsonl.partial").write_bytes(reference)
    monkeypatch.setattr(
        type(pred.entry()), "predict_examples", lambda *a, **k: pytest.fail("predicted again")
    )
    assert pred.predict_file(text, str(out), chunk=CHUNK, batch_size=BATCH, progress=False, resume=True) == 35
    assert out.read_bytes() == reference


def test_a_failure_before_any_record_leaves_nothing(pred, text, tmp_path, monkeypatch):
    monkeypatch.setattr(
        type(pred.entry()), "predict_examples", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("x"))
    )
    with pytest.raises(RuntimeError):
        pred.predict_file(text, str(tmp_path / "out.jsonl"), progress=False)
    assert os.listdir(tmp_path) == []


def test_records_and_chunking(pred, text, reference, tmp_path):
    """One record per non-blank line with its source; entities with character offsets into the line
    and a score; the chunk size (how inputs are grouped for length batching) changes no prediction."""
    recs = [json.loads(line) for line in reference.decode().splitlines()]
    assert [r["source"].rsplit(":", 1)[1] for r in recs] == [str(i) for i in range(2, 37)]
    for rec in recs:
        assert len(rec["tags"]) == len(rec["tokens"]) and is_valid_iob2(rec["tags"]) is None
        for ent in rec["entities"]:
            assert rec["text"][ent["start"] : ent["end"]] == ent["text"]
            assert 0 < ent["score"] <= 1 and ent["type"] in {"PER", "ORG", "LOC", "MISC"}
    assert any(r["entities"] for r in recs)
    out = tmp_path / "one.jsonl"
    pred.predict_file(text, str(out), chunk=1000, batch_size=BATCH, progress=False)
    again = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["tags"] for r in again] == [r["tags"] for r in recs]
    scores = [e["score"] for r in recs for e in r["entities"]]
    assert [e["score"] for r in again for e in r["entities"]] == pytest.approx(scores, abs=2e-4)


def test_classification_records_have_every_labels_probability(tiny_backbone, cls_data, tmp_path):
    cfg = {
        "output": str(tmp_path / "cls"),
        "seed": 3,
        "model": {"name_or_path": str(tiny_backbone)},
        "task": {"name": "classification"},
        "data": {"train": str(cls_data["train"]), "dev": str(cls_data["dev"]), "max_length": 32, "stride": 8},
        "train": {"max_steps": 2, "eval_steps": 2, "save_steps": 2, "batch_size": 8, "threads": 1},
    }
    cfg["train"].update(progress=False, log_steps=1)
    pred = Predictor.from_run(run_finetune(cfg).path)
    texts = ["the film was good and great", "the meal was awful and dull", "the show was fine"]
    src = tmp_path / "in.txt"
    src.write_text("\n".join(texts) + "\n")
    pred.predict_file(str(src), str(tmp_path / "out.jsonl"), progress=False)
    recs = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["text"] for r in recs] == texts
    for rec in recs:
        probs = rec["scores"]
        assert set(probs) == {"neg", "pos"} and sum(probs.values()) == pytest.approx(1, abs=1e-5)
        assert rec["label"] == max(probs, key=probs.get)
    assert [r["scores"] for r in recs] == [r["scores"] for r in pred.predict(texts)]


def test_chunks_realign_and_default_size():
    assert list(chunks(iter(range(10)), 4, first=4)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert list(chunks(iter(range(10)), 4, first=1)) == [[0], [1, 2, 3, 4], [5, 6, 7, 8], [9]]
    assert list(chunks(iter(range(2)), 4, first=3)) == [[0, 1]]
    assert list(chunks(iter([]), 4, first=4)) == []
    assert default_chunk(32) == 2048 and default_chunk(1) == 256


def test_dtype_casts_the_weights(ner_run, text, reference, tmp_path):
    import torch

    from rawtune.errors import ModelError

    pred = Predictor.from_run(ner_run, dtype="bf16")
    assert {p.dtype for p in pred.model.parameters()} == {torch.bfloat16}
    out = tmp_path / "bf16.jsonl"
    assert (
        main(["predict", ner_run, "--input", text, "--output", str(out), "--dtype", "bf16", "--no-progress"])
        == 0
    )
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["source"] for r in recs] == [json.loads(x)["source"] for x in reference.decode().splitlines()]
    assert all(len(r["tags"]) == len(r["tokens"]) for r in recs)
    with pytest.raises(ModelError, match="dtype must be one of"):
        Predictor.from_run(ner_run, dtype="int4")
