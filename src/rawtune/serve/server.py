"""`serve(runs, settings)`: load the runs, build the app, run it under uvicorn until SIGTERM/SIGINT,
then drain: uvicorn stops accepting connections and waits (up to `drain_timeout_s`) for in-flight
requests, and the app's shutdown finishes whatever is still queued in the batcher."""

from __future__ import annotations

import logging
import os
import signal
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rawtune.config.serve import ServeConfig
from rawtune.errors import MissingExtraError
from rawtune.serve.security import check_bind, read_api_key

log = logging.getLogger("rawtune.serve")


def serve(runs: Mapping[str, str | os.PathLike], settings: ServeConfig) -> int:
    """Serve `runs` ({name: run directory}) until stopped; 0 after a clean, drained stop."""
    key = read_api_key(settings.api_key_file) if settings.api_key_file else None  # fail before loading
    check_bind(settings.host, key is not None)
    try:
        import uvicorn
    except ImportError:
        raise MissingExtraError("uvicorn", "serve") from None
    from rawtune.logs import setup_logging
    from rawtune.serve.app import create_app  # MissingExtraError without fastapi
    from rawtune.serve.backends import apply_backend, backend_device, backend_dtype
    from rawtune.serve.predictor import Predictor

    setup_logging()
    device = backend_device(settings.backend, settings.device)  # refuses int8/onnx off the CPU
    dtype = backend_dtype(settings.backend, settings.dtype)  # auto: as saved for int8/onnx backends
    predictor = Predictor.from_runs(dict(runs), device=device, merged=settings.merged, dtype=dtype)
    scratch = tempfile.TemporaryDirectory(prefix="rawtune-serve-")
    try:
        apply_backend(predictor, settings.backend, Path(scratch.name), device=device)
        return _run(predictor, settings, uvicorn, create_app)
    finally:
        scratch.cleanup()


def _run(predictor: Any, settings: ServeConfig, uvicorn: Any, create_app: Any) -> int:
    app = create_app(predictor, settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        timeout_graceful_shutdown=settings.drain_timeout_s,
        log_level=settings.log_level,
        server_header=False,
    )
    with _signals_end_cleanly():
        uvicorn.Server(config).run()
    return 0


@contextmanager
def _signals_end_cleanly() -> Iterator[None]:
    """uvicorn catches SIGTERM/SIGINT itself to shut down gracefully, then re-raises the signal
    against the handler it found on entry; with this no-op one installed, a drained stop exits 0
    instead of dying of the signal (or raising KeyboardInterrupt)."""
    signals = [signal.SIGINT, signal.SIGTERM]
    try:
        old = {s: signal.signal(s, lambda *_: None) for s in signals}
    except ValueError:  # not the main thread: uvicorn installs no handlers there either
        yield
        return
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
