"""Self-contained HTML reports (inline CSS and SVG, no scripts, no network) for a run, a
comparison of runs, and a whole pipeline. Reads only the run directory contract (DESIGN.md §4);
imports no torch."""

from __future__ import annotations

from rawtune.reporting.write import build_report, write_comparison, write_pipeline_report, write_run_report

__all__ = ["build_report", "write_comparison", "write_pipeline_report", "write_run_report"]
