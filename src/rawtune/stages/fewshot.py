"""`rawtune fewshot`: for each seed, k examples per class drawn from the pool, one run in
OUTPUT/seed-N by the configured method, and OUTPUT/metrics.json with every dev/test number's mean
and std (the protocol and the methods live in `rawtune.fewshot`)."""

from __future__ import annotations

from typing import Any

from rawtune.config.loader import coerce_config


def run_fewshot(config: Any, *, resume: bool = False) -> dict[str, Any]:
    """All seeds of one few-shot study; returns (and writes) OUTPUT/metrics.json."""
    from rawtune.fewshot.protocol import run_study

    return run_study(coerce_config("fewshot", config), resume=resume)
