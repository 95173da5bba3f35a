"""B1-B5: malicious and crafted artifacts. A pickle that runs code when unpickled (as a model's
pytorch_model.bin, a checkpoint's optimizer.pt or scheduler.pt), a config.json whose auto_map points
at code of the model's own, path-traversal names in the file tables rawtune reads, crafted safetensors
headers and a corrupt ONNX graph. Every one is refused with one error line naming the file (exit 2),
no payload runs (the side-effect file it would make never appears) and nothing is written.

Each payload is first shown to work: unpickled without weights_only it does create its file, and
the remote code does run when imported, so the tests cannot pass by refusing something harmless."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
from pathlib import Path

import pytest
import torch

from rawtune.cli.main import main
from rawtune.runs.atomic import hash_tree
from rawtune.runs.checkpoint import CHECKSUMS, list_checkpoints

pytestmark = pytest.mark.slow  # reliability runs: make test-all (CI)


class Payload:
    """Unpickled, it creates the directory `path` (a harmless, checkable side effect)."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (os.makedirs, (self.path,))


def write_pickle_bomb(f: Path, sentinel: Path) -> None:
    torch.save({"bert.embeddings.word_embeddings.weight": Payload(sentinel)}, f)


def test_the_pickle_payload_is_real(tmp_path):
    f, sentinel = tmp_path / "bomb.pt", tmp_path / "ran"
    write_pickle_bomb(f, sentinel)
    torch.load(f, weights_only=False)  # what an unsafe loader would do
    assert sentinel.is_dir()


def _cli(argv, capfd) -> tuple[int, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 2
    return code, capfd.readouterr().err


def _refused(
    code: int, err: str, names: str, sentinel: Path | None = None, figures=None, case: str = ""
) -> None:
    errors = [ln for ln in err.splitlines() if ": error:" in ln]
    if figures is not None:
        figures(
            "artifact",
            case=case,
            safe=code == 2 and len(errors) == 1 and not (sentinel and sentinel.exists()),
            side_effect=bool(sentinel and sentinel.exists()),
            crash="Traceback (most recent call last)" in err,
        )
    assert code == 2, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert len(errors) == 1 and names in errors[0], err[-3000:]
    if sentinel is not None:
        assert not sentinel.exists(), "the payload ran"


@pytest.fixture
def bomb_model(tmp_path, tiny_backbone) -> tuple[Path, Path]:
    """A model directory (config.json, tokenizer) whose only weights are a pickle bomb."""
    model, sentinel = tmp_path / "evil-model", tmp_path / "ran"
    shutil.copytree(tiny_backbone, model)
    for f in model.glob("*.safetensors"):
        f.unlink()
    write_pickle_bomb(model / "pytorch_model.bin", sentinel)
    return model, sentinel


def test_a_pickle_bomb_backbone_is_refused_by_finetune(bomb_model, tmp_path, ner_data, capfd, figures):
    model, sentinel = bomb_model
    out = tmp_path / "run"
    code, err = _cli(
        ["finetune", "--task=ner", f"--model={model}", f"--train={ner_data['train']}", f"--output={out}"],
        capfd,
    )
    _refused(code, err, str(model), sentinel, figures, "pickle pytorch_model.bin as a backbone")
    assert not out.exists()


def _run_copy(ner_run, tmp_path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(ner_run.path, run)
    return run


def test_a_pickle_bomb_in_a_run_is_refused_by_predict(ner_run, ner_data, tmp_path, capfd, figures):
    run, sentinel, out = _run_copy(ner_run, tmp_path), tmp_path / "ran", tmp_path / "pred.jsonl"
    for f in (run / "model").glob("*.safetensors"):
        f.unlink()
    write_pickle_bomb(run / "model" / "pytorch_model.bin", sentinel)
    code, err = _cli(["predict", run, f"--input={ner_data['test']}", f"--output={out}"], capfd)
    _refused(code, err, str(run / "model"), sentinel, figures, "pickle pytorch_model.bin in a run")
    assert not out.exists()


@pytest.mark.parametrize("name", ["optimizer.pt", "scheduler.pt"])
def test_a_pickle_bomb_in_a_sealed_checkpoint_is_refused_on_resume(
    name, reference, stage_flags, tmp_path, capfd, figures
):
    """The checksums are made to match (an attacker can rewrite checksums.json too): only the
    weights-only unpickler stands between the file and the payload."""
    run, sentinel = tmp_path / "run", tmp_path / "ran"
    shutil.copytree(reference("ner"), run)
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    for _, ckpt in list_checkpoints(run / "checkpoints"):
        write_pickle_bomb(ckpt / name, sentinel)
        files = hash_tree(ckpt, skip=(CHECKSUMS,))
        (ckpt / CHECKSUMS).write_text(json.dumps({"step": int(ckpt.name[5:]), "files": files}))
    before = (run / "metrics.jsonl").read_bytes()
    code, err = _cli([*stage_flags["ner"], f"--output={run}", "--resume"], capfd)
    _refused(code, err, name, sentinel, figures, f"pickle {name} in a sealed checkpoint")
    assert (run / "metrics.jsonl").read_bytes() == before  # the run is left as it was


REMOTE_CODE = """
import os
os.makedirs({sentinel!r}, exist_ok=True)
from transformers import BertConfig, BertModel
class EvilConfig(BertConfig):
    model_type = "evil-bert"
class EvilModel(BertModel):
    config_class = EvilConfig
"""


def _remote_code_model(src: Path, dst: Path, sentinel: Path, model_type: str) -> Path:
    shutil.copytree(src, dst)
    (dst / "evil.py").write_text(REMOTE_CODE.format(sentinel=str(sentinel)))
    config = json.loads((dst / "config.json").read_text())
    config["model_type"] = model_type
    config["auto_map"] = {
        "AutoConfig": "evil.EvilConfig",
        "AutoModel": "evil.EvilModel",
        "AutoModelForTokenClassification": "evil.EvilModel",
    }
    (dst / "config.json").write_text(json.dumps(config))
    tok = json.loads((dst / "tokenizer_config.json").read_text())
    tok["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", None]}
    (dst / "tokenizer_config.json").write_text(json.dumps(tok))
    return dst


def test_the_remote_code_payload_is_real(tmp_path, tiny_backbone, monkeypatch):
    model = _remote_code_model(tiny_backbone, tmp_path / "m", tmp_path / "ran", "evil-bert")
    monkeypatch.syspath_prepend(str(model))
    __import__("evil")
    assert (tmp_path / "ran").is_dir()


@pytest.mark.parametrize("model_type", ["evil-bert", "bert"])
def test_auto_map_never_turns_on_remote_code(model_type, tiny_backbone, ner_data, tmp_path, capfd, figures):
    """An unknown model_type with an auto_map is refused (transformers would need
    trust_remote_code); a known one loads as that architecture and the auto_map is ignored. Either
    way the model's code is never imported."""
    sentinel = tmp_path / "ran"
    model = _remote_code_model(tiny_backbone, tmp_path / "evil-model", sentinel, model_type)
    out = tmp_path / "run"
    argv = ["finetune", "--task=ner", f"--model={model}", f"--train={ner_data['train']}", f"--output={out}"]
    code, err = _cli([*argv, "--train.max_steps=1", "--train.threads=1", "--train.progress=false"], capfd)
    figures(
        "artifact",
        case=f"auto_map ({model_type})",
        safe=code == (2 if model_type == "evil-bert" else 0) and not sentinel.exists(),
        side_effect=sentinel.exists(),
        crash="Traceback" in err,
    )
    assert not sentinel.exists(), "the model's own code was imported"
    if model_type == "evil-bert":
        _refused(code, err, str(model))
        assert "trust_remote_code" in err
        assert not out.exists()
    else:
        assert code == 0, err[-3000:]


def _crafted_safetensors(kind: str) -> bytes:
    if kind == "huge-header-length":
        return struct.pack("<Q", 2**62) + b"{}"
    if kind == "header-not-json":
        return struct.pack("<Q", 16) + b"{not json at all"
    if kind == "offsets-past-end":
        header = json.dumps({"w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4_000_000]}})
        return struct.pack("<Q", len(header)) + header.encode() + b"\0" * 64
    if kind == "shorter-than-length":
        return b"\x08\x00"
    raise AssertionError(kind)


SAFETENSORS = ["huge-header-length", "header-not-json", "offsets-past-end", "shorter-than-length"]


@pytest.mark.parametrize("kind", SAFETENSORS)
def test_a_crafted_safetensors_model_is_refused_by_predict(kind, ner_run, ner_data, tmp_path, capfd, figures):
    run, out = _run_copy(ner_run, tmp_path), tmp_path / "pred.jsonl"
    (run / "model" / "model.safetensors").write_bytes(_crafted_safetensors(kind))
    code, err = _cli(["predict", run, f"--input={ner_data['test']}", f"--output={out}"], capfd)
    _refused(code, err, str(run / "model"), None, figures, f"safetensors {kind} (predict)")
    assert not out.exists()


@pytest.mark.parametrize("kind", SAFETENSORS)
def test_a_crafted_safetensors_backbone_is_refused_by_finetune(
    kind, tiny_backbone, ner_data, tmp_path, capfd, figures
):
    model, out = tmp_path / "m", tmp_path / "run"
    shutil.copytree(tiny_backbone, model)
    (model / "model.safetensors").write_bytes(_crafted_safetensors(kind))
    code, err = _cli(
        ["finetune", "--task=ner", f"--model={model}", f"--train={ner_data['train']}", f"--output={out}"],
        capfd,
    )
    _refused(code, err, str(model), None, figures, f"safetensors {kind} (finetune)")
    assert not out.exists()


def test_a_resealed_crafted_checkpoint_safetensors_is_refused_on_resume(
    reference, stage_flags, tmp_path, capfd, figures
):
    run = tmp_path / "run"
    shutil.copytree(reference("ner"), run)
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    for _, ckpt in list_checkpoints(run / "checkpoints"):
        (ckpt / "model.safetensors").write_bytes(_crafted_safetensors("huge-header-length"))
        files = hash_tree(ckpt, skip=(CHECKSUMS,))
        (ckpt / CHECKSUMS).write_text(json.dumps({"step": int(ckpt.name[5:]), "files": files}))
    code, err = _cli([*stage_flags["ner"], f"--output={run}", "--resume"], capfd)
    _refused(code, err, "model.safetensors", None, figures, "crafted safetensors in a sealed checkpoint")


# --- path traversal: file tables that name files outside their directory ----------------------------


@pytest.mark.parametrize("name", ["../../outside.txt", "/etc/hostname", "model/../../outside.txt"])
def test_doctor_never_reads_outside_the_run(name, ner_run, tmp_path, capfd, figures):
    """A manifest's file table naming ../../x (or an absolute path) is a finding, and the file is
    never opened (it could be /dev/zero: hashing it would never end)."""
    from rawtune.stages.doctor import diagnose

    run = _run_copy(ner_run, tmp_path / "runs")
    outside = (run / name).resolve() if not name.startswith("/") else Path(name)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["files"][name] = {"sha256": "0" * 64, "bytes": 1}
    (run / "manifest.json").write_text(json.dumps(manifest))
    opened = []
    real = Path.open

    def spy(self, *a, **k):
        if self.resolve() == outside:
            opened.append(self)
        return real(self, *a, **k)

    import rawtune.runs.atomic as atomic

    real_sha = atomic.sha256_file

    def sha(p, *a, **k):
        if Path(p).resolve() == outside:
            opened.append(p)
        return real_sha(p, *a, **k)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(atomic, "sha256_file", sha)
        m.setattr(Path, "open", spy)
        found = diagnose(run)
    problems = [f.message for f in found.findings if f.level == "problem"]
    figures(
        "artifact",
        case=f"manifest names {name}",
        safe=bool(problems) and not opened,
        side_effect=bool(opened),
        crash=False,
    )
    assert not opened, f"doctor opened {outside}"
    assert any(name in p and "outside the run" in p for p in problems), problems


def test_a_checksums_table_naming_outside_files_is_never_resumed(ner_run, tmp_path, figures):
    from rawtune.runs.checkpoint import verify_checkpoint

    ckpt = tmp_path / "step-3"
    ckpt.mkdir()
    (tmp_path / "secret").write_text("x")
    (ckpt / "trainer_state.json").write_text("{}")
    files = {"../secret": {"sha256": "0" * 64, "bytes": 1}, "trainer_state.json": {"sha256": "0", "bytes": 2}}
    (ckpt / CHECKSUMS).write_text(json.dumps({"step": 3, "files": files}))
    problem = verify_checkpoint(ckpt)
    figures(
        "artifact",
        case="checksums.json names ../secret",
        safe=problem is not None,
        side_effect=False,
        crash=False,
    )
    assert problem is not None and "outside the checkpoint: ../secret" in problem


# --- a corrupt ONNX graph ------------------------------------------------------------------------------


@pytest.fixture
def onnx_export(ner_run, tmp_path) -> Path:
    """A directory laid out as `rawtune export --onnx` writes it, model.onnx to be filled by the test."""
    out = tmp_path / "onnx"
    out.mkdir()
    for f in (ner_run.path / "model").iterdir():
        if not f.name.endswith(".safetensors"):
            shutil.copy(f, out / f.name)
    shutil.copy(ner_run.path / "config.yaml", out / "finetune.yaml")
    (out / "rawtune_onnx.json").write_text(json.dumps({"model": "model.onnx"}))
    return out


ONNX = {
    "garbage": b"this is not a protobuf\x00\xff" * 10,
    "empty": b"",
    "truncated-protobuf": b"\x08\x07\x12\x04onnx\x3a\xff\xff\xff\x0f",
}


@pytest.mark.parametrize("kind", ONNX)
def test_a_corrupt_onnx_graph_is_refused_by_predict(kind, onnx_export, ner_data, tmp_path, capfd, figures):
    (onnx_export / "model.onnx").write_bytes(ONNX[kind])
    out = tmp_path / "pred.jsonl"
    code, err = _cli(["predict", onnx_export, f"--input={ner_data['test']}", f"--output={out}"], capfd)
    _refused(code, err, "model.onnx", None, figures, f"onnx {kind} (predict)")
    assert not out.exists()


@pytest.mark.parametrize("kind", ["garbage"])
def test_a_corrupt_onnx_graph_is_refused_by_serve(kind, onnx_export, capfd, figures, monkeypatch):
    import rawtune.serve.server as server

    # were the graph loaded, the server would run until stopped: return at once instead (exit 0)
    monkeypatch.setattr(server, "_run", lambda *a, **k: 0)
    (onnx_export / "model.onnx").write_bytes(ONNX[kind])
    code, err = _cli(["serve", onnx_export, "--port=0"], capfd)
    _refused(code, err, "model.onnx", None, figures, f"onnx {kind} (serve)")


def test_pickle_is_what_it_looks_like():
    """The bomb's bytes hold a reference to os.makedirs: the refusal is not an accident of format."""
    data = pickle.dumps(Payload(Path("/nonexistent/x")))
    assert b"makedirs" in data
