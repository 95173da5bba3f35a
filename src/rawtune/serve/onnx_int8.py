"""`rawtune predict --backend onnx-int8`: the run's model exported to ONNX by `rawtune export --onnx
--quantize int8`'s own path (`export.runs.export_run_onnx`: onnxruntime dynamic quantization, int8
weights per output channel), built once into the rawtune cache and reused while the run's model
files are unchanged; prediction then loads that export as any ONNX export dir loads, so its records
are the same as the torch backend's in shape.

The cache: `RAWTUNE_CACHE` (default ~/.cache/rawtune) / onnx-int8 / KEY, where KEY hashes the run's
resolved path, the name, size and modification time of every file of its model/ and adapter/ and
its fine-tuning config, and the rawtune and onnxruntime versions. The int8 graph is not gated on
agreement with PyTorch (a briefly trained model's near-tied logits flip by chance); its agreement on
the run's dev data (or built-in probe texts) is logged on every use, from the export's record."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from rawtune.errors import ModelError, RunDirError

log = logging.getLogger("rawtune")
BACKENDS = ("torch", "onnx-int8")


def cache_root() -> Path:
    root = os.environ.get("RAWTUNE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "rawtune")
    return Path(root) / "onnx-int8"


def cache_key(run_path: Path) -> str:
    """What the export depends on: the run's model files (name, size, mtime) and the versions."""
    from rawtune._version import __version__
    from rawtune.artifacts.loaded import finetune_config
    from rawtune.artifacts.onnx import ort_module

    h = hashlib.sha256(f"{run_path.resolve()}|{__version__}|{ort_module().__version__}".encode())
    files = [finetune_config(run_path)]
    for sub in ("model", "adapter"):
        if (run_path / sub).is_dir():
            files += sorted(p for p in (run_path / sub).rglob("*") if p.is_file())
    for p in files:
        if p.is_file():
            st = p.stat()
            h.update(f"|{p.relative_to(run_path)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def onnx_int8_dir(run: str | os.PathLike) -> Path:
    """The directory to load for `--backend onnx-int8`: RUN itself when it is already an ONNX model
    (an `export --onnx` dir, a `compress --onnx` run), else its cached int8 export, built here on
    first use. A kind with no transformers task head (or an int8 torch run) is refused."""
    from rawtune.artifacts.formats import model_format
    from rawtune.artifacts.kinds import run_kind

    path = Path(run)
    kind = run_kind(path)
    form = model_format(path / "model") if path.is_dir() else None
    if kind.name == "onnx" or (form is not None and form.name == "onnx"):
        log.info("%s is an ONNX model already; predicting with it as it is", path)
        return path
    kind.check_export(str(path), "onnx")
    out = cache_root() / cache_key(path)
    from rawtune.artifacts.onnx import is_onnx_dir

    if is_onnx_dir(out):
        _log_use(out, "reused")
        return out
    _build(path, out)
    _log_use(out, "built")
    return out


def _build(path: Path, out: Path) -> None:
    from rawtune.export.runs import export_run_onnx
    from rawtune.runs.rundir import RunDir

    log.info("%s: exporting to ONNX and quantizing to int8 (once; cached in %s)", path, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    handlers = list(root.handlers)  # the exporter's libraries configure the root logger: undone below
    propagate, log.propagate = log.propagate, False  # meanwhile rawtune's lines go to its handler only
    try:
        export_run_onnx(RunDir(path), out, quantize="int8", opset=None, gate=False)
    except RunDirError:
        from rawtune.artifacts.onnx import is_onnx_dir

        if not is_onnx_dir(out):  # not another process finishing the same export first
            raise
    finally:
        log.propagate = propagate
        for h in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(h)


def _log_use(out: Path, how: str) -> None:
    from rawtune.artifacts.onnx import read_meta

    int8 = read_meta(out).get("parity", {}).get("int8")
    if not int8:
        raise ModelError(f"{out}: not an int8 ONNX export; remove it to rebuild")
    log.info(
        "onnx-int8 (%s, %s): argmax agreement with PyTorch %.1f%% of %d predictions on %s texts "
        "(max |logit difference| %.2e)",
        how, out, 100 * int8["argmax_agreement"], int8["compared"],
        read_meta(out)["parity"].get("probe_texts", "probe"), int8["max_abs_diff_real"]["logits"],
    )  # fmt: skip
