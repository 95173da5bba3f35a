"""Logging set-up, a ground-floor leaf: stages, the server and the CLI all log through the "rawtune"
logger, and none of them should have to import the stages' plumbing to configure it."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

log = logging.getLogger("rawtune")


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is now (not the one at set-up), so redirection keeps working."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def setup_logging(logfile: Path | None = None) -> None:
    log.setLevel(logging.INFO)
    if not any(isinstance(h, _Stderr) for h in log.handlers):
        h = _Stderr()
        h.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(h)
    if logfile is not None:
        close_logfile()
        fh = logging.FileHandler(logfile, encoding="utf-8")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(fh)


def close_logfile() -> None:
    """Stop writing to the run log `setup_logging` opened (a new run must not log into the last one's)."""
    for h in [h for h in log.handlers if isinstance(h, logging.FileHandler)]:
        log.removeHandler(h)
        h.close()
