"""Writing the reports. `write_run_report` is called at the end of every stage and never fails a
finished run: a problem is logged as a warning and the function returns None. The `build_*`
functions behind `rawtune report` raise a RunDirError for a path that is not a run, a learning
curve or a pipeline root."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from rawtune.errors import RunDirError
from rawtune.reporting.runinfo import RunInfo

log = logging.getLogger("rawtune")
REPORT = "report.html"
DEFAULT_COMPARISON = "rawtune-report.html"


def _write(path: Path, html: str) -> Path:
    from rawtune.runs.atomic import write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, html)
    return path


def kind_of(path: Path) -> str:
    """pipeline | run (a run directory or a learning-curve directory); RunDirError otherwise."""
    if not path.is_dir():
        raise RunDirError(f"{path}: not a directory")
    if (path / "pipeline.json").is_file():
        return "pipeline"
    if any((path / name).is_file() for name in ("manifest.json", "learning_curve.json", "metrics.json")):
        return "run"
    raise RunDirError(
        f"{path}: not a rawtune run (no manifest.json), learning curve or pipeline root (no pipeline.json)"
    )


def build_run_report(run_path: str | Path) -> Path:
    from rawtune.reporting.run_page import render_run

    path = Path(run_path)
    kind_of(path)
    return _write(path / REPORT, render_run(RunInfo.load(path)))


def write_run_report(run_path: str | Path) -> Path | None:
    """RUN/report.html; None (and a warning) when it cannot be written."""
    try:
        return build_run_report(run_path)
    except Exception as e:  # a report must never fail the run it describes
        log.warning("could not write %s/%s: %s: %s", run_path, REPORT, type(e).__name__, e)
        return None


def write_comparison(paths: Sequence[str | Path], output: str | Path | None = None) -> Path:
    """A page comparing the runs in `paths`, written to `output` (default ./rawtune-report.html)."""
    from rawtune.reporting.comparison import render_comparison

    if not paths:
        raise RunDirError("no runs to compare")
    for p in paths:
        if kind_of(Path(p)) == "pipeline":
            raise RunDirError(f"{p} is a pipeline root: report it on its own (rawtune report {p})")
    out = Path(output or DEFAULT_COMPARISON)
    return _write(out, render_comparison([RunInfo.load(p) for p in paths], out))


def write_pipeline_report(root: str | Path, output: str | Path | None = None) -> Path:
    """ROOT/report.html (or `output`) for the pipeline, after writing each stage's own report.html."""
    from rawtune.reporting.pipeline_page import render_pipeline, stage_runs

    root = Path(root)
    try:
        spec = json.loads((root / "pipeline.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RunDirError(f"{root / 'pipeline.json'}: {e}") from e
    if not isinstance(spec, dict):
        raise RunDirError(f"{root / 'pipeline.json'}: not a JSON object")
    for _stage, info in stage_runs(root, spec):
        if info is not None:
            write_run_report(info.path)
    stages = stage_runs(root, spec)  # read again: the stage reports now exist to link to
    out = Path(output) if output is not None else root / REPORT
    return _write(out, render_pipeline(root, spec, stages, out))


def build_report(paths: Sequence[str | Path], output: str | Path | None = None) -> Path:
    """One run: RUN/report.html (and a copy at `output`); a pipeline root: its report at `output`
    or ROOT/report.html; several runs: a comparison at `output` or ./rawtune-report.html."""
    if len(paths) > 1:
        return write_comparison(paths, output)
    path = Path(paths[0])
    if kind_of(path) == "pipeline":
        return write_pipeline_report(path, output)
    written = build_run_report(path)
    if output is not None and Path(output).resolve() != written.resolve():
        return _write(Path(output), written.read_text(encoding="utf-8"))
    return written
