"""Evaluation for fine-tuning reports.

- `metrics`: pure functions from gold/predicted labels to JSON-ready dicts (seqeval for entities,
  scikit-learn for everything else; no torch).
- `report`: `write_report(out_dir, ...)` writes report.json, a self-contained report.md and plots.
- `charts`: the chart library, each chart a function from plain data to a matplotlib Figure (the
  `rawtune[plots]` extra; skipped without it), rendered as PNG by `plots` and as SVG by `reporting.svg`.
- `plots`: the PNGs beside report.md.

Nothing is imported here so `import rawtune.evaluation` stays free of sklearn, seqeval and torch.
"""
