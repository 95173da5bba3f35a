"""Bad input: a one-line error naming the thing, exit code 2, and no run left looking finished."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rawtune.cli.main import main


def _run(capsys, argv):
    code = main(argv)
    return code, capsys.readouterr().err


def _not_finished(path):
    return not path.exists() or json.loads((path / "manifest.json").read_text()).get("status") != "complete"


@pytest.fixture
def flags(tiny_args, as_flags, tmp_path):
    def make(**extra):
        return as_flags(tiny_args(output=str(tmp_path / "out"), **{"train.max_steps": 2, **extra}))

    return make


def test_missing_corpus_file(capsys, flags, tmp_path):
    code, err = _run(capsys, ["pretrain", *flags(**{"data.corpus": [str(tmp_path / "nope.txt")]})])
    assert code == 2 and "nope.txt" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_empty_corpus(capsys, flags, tmp_path):
    f = tmp_path / "empty.txt"
    f.write_text("\n   \n\n")
    code, err = _run(capsys, ["pretrain", *flags(**{"data.corpus": [str(f)]})])
    assert code == 2 and "empty.txt" in err and "no documents" in err
    assert not (tmp_path / "out").exists()


def test_invalid_utf8_names_file_line_byte(capsys, flags, tmp_path):
    f = tmp_path / "bad.txt"
    f.write_bytes(b"good line\nsecond good line\nbad \xff byte here\n")
    code, err = _run(capsys, ["pretrain", *flags(**{"data.corpus": [str(f)]})])
    assert code == 2 and f"{f}:3" in err and "byte" in err
    assert not (tmp_path / "out").exists()


def test_unknown_objective_and_key(capsys, flags, tmp_path):
    code, err = _run(capsys, ["pretrain", *flags(), "--objective", "mml", "--train.lrr=1"])
    assert code == 2 and "objective.name" in err and "train.lrr" in err and "did you mean 'train.lr'" in err
    assert not (tmp_path / "out").exists()


def test_yaml_error_names_file_and_line(capsys, tmp_path):
    cfg = tmp_path / "my.yaml"
    cfg.write_text("output: x\nmodel:\n  name_or_path: m\ndata:\n  corpus: [a.txt]\n  seq_lenn: 64\n")
    code, err = _run(capsys, ["pretrain", "--config", str(cfg)])
    assert code == 2 and f"{cfg}:6: data.seq_lenn: unknown key (did you mean 'data.seq_len'?)" in err


def test_model_path_that_does_not_exist(capsys, flags, tmp_path):
    code, err = _run(
        capsys,
        [
            "pretrain",
            *flags(**{"model.init": "pretrained", "tokenizer.path": None}),
            "--model",
            str(tmp_path / "no-such-model"),
        ],
    )
    assert code == 2 and "no-such-model" in err and "does not exist" in err
    assert not (tmp_path / "out").exists()


def test_hub_id_offline_is_a_clear_error(capsys, flags, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, err = _run(
        capsys,
        [
            "pretrain",
            *flags(**{"model.init": "pretrained", "tokenizer.path": None}),
            "--model",
            "someorg/not-cached-model",
        ],
    )
    assert code == 2 and "someorg/not-cached-model" in err and "Hub" in err


def test_unwritable_output(capsys, flags, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    code, err = _run(capsys, ["pretrain", *flags(), f"--output={blocker / 'run'}"])
    assert code == 2 and "not a directory" in err


def test_existing_output_without_resume_is_refused(capsys, flags, tmp_path):
    assert _run(capsys, ["pretrain", *flags()])[0] == 0
    before = (tmp_path / "out" / "manifest.json").read_text()
    code, err = _run(capsys, ["pretrain", *flags()])
    assert code == 2 and "--resume" in err
    assert (tmp_path / "out" / "manifest.json").read_text() == before  # nothing touched


def test_resume_without_run_or_checkpoint(capsys, flags, tmp_path):
    code, err = _run(capsys, ["pretrain", *flags(), "--resume"])
    assert code == 2 and "not a rawtune run" in err
    out = tmp_path / "out"
    out.mkdir()
    # a run killed before its first checkpoint
    assert _run(capsys, ["pretrain", *flags(**{"train.max_steps": 2}), f"--output={tmp_path / 'o2'}"])[0] == 0
    (tmp_path / "o2" / "manifest.json").write_text(json.dumps({"status": "running"}))
    code, err = _run(
        capsys, ["pretrain", *flags(**{"train.max_steps": 2}), f"--output={tmp_path / 'o2'}", "--resume"]
    )
    assert code == 2 and "no complete checkpoint" in err


def test_resume_with_different_config_or_data(capsys, flags, tmp_path, corpus_file):
    # a finished run, its checkpoints kept, made to look killed
    args = flags(**{"train.max_steps": 6, "train.save_steps": 2, "train.keep_checkpoints": 3})
    assert _run(capsys, ["pretrain", *args])[0] == 0
    out = tmp_path / "out"
    (out / "manifest.json").write_text(json.dumps({"status": "running"}))  # pretend it was killed
    code, err = _run(capsys, ["pretrain", *args, "--train.lr=0.5", "--resume"])
    assert code == 2 and "train.lr" in err
    changed = tmp_path / "changed.txt"
    changed.write_text(corpus_file.read_text().replace("court", "jury"))
    args2 = [a if not a.startswith("--data.corpus") else f"--data.corpus=[{changed}]" for a in args]
    code, err = _run(capsys, ["pretrain", *args2, "--resume"])
    assert code == 2 and "data.corpus" in err
    (out / "config.yaml").write_text(
        (out / "config.yaml").read_text().replace(str(corpus_file), str(changed))
    )
    code, err = _run(capsys, ["pretrain", *args2, "--resume"])
    assert code == 2 and "different" in err and "data" in err and "checkpoint" in err
    assert _not_finished(out)


def test_help_does_not_import_torch():
    code = (
        "import sys\nfrom rawtune.cli.main import main\n"
        "for argv in (['--help'], ['pretrain', '--help'], ['tokenizer', 'train', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'numpy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
