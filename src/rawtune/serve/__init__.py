"""Serving: `Predictor.from_run(...)` (the same decode path as evaluation) and, later, HTTP."""
