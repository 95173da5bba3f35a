"""Run directories (DESIGN.md §4): the only module that writes run files."""

from rawtune.runs.rundir import RunDir

__all__ = ["RunDir"]
