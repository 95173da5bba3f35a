"""Evaluation for fine-tuning reports.

- `metrics`: pure functions from gold/predicted labels to JSON-ready dicts (seqeval for entities,
  scikit-learn for everything else; no torch).
- `report`: `write_report(out_dir, ...)` writes report.json, a self-contained report.md and plots.
- `plots`: the PNGs, drawn with matplotlib (the `rawtune[plots]` extra) and skipped without it.

Nothing is imported here so `import rawtune.evaluation` stays free of sklearn, seqeval and torch.
"""
