"""Tuning methods: which parameters of a task model train, and what a run saves. Each method is one
module registered in `METHODS`; `apply` runs the configured one and reports trainable parameters."""

from rawtune.tuning.base import METHODS, Tuned, apply, trainable_report

__all__ = ["METHODS", "Tuned", "apply", "trainable_report"]
