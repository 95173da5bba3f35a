"""The Python API exposes every stage with the config-or-dict-or-YAML argument finetune takes."""

from __future__ import annotations

import importlib

import pytest

import rawtune
from rawtune.errors import ConfigError, RawtuneError

STAGES = ("fewshot", "continual", "compress", "hpo", "run", "finetune", "pretrain", "selftrain", "zeroshot")


@pytest.mark.parametrize("name", STAGES)
def test_each_stage_is_callable_and_validates_a_dict(name):
    fn = getattr(rawtune, name)
    assert callable(fn) and name in rawtune.__all__
    with pytest.raises(ConfigError):
        fn({"no_such_key": 1})


@pytest.mark.parametrize("name", ["fewshot", "continual", "compress", "hpo", "export", "selftrain"])
def test_a_subpackage_of_the_same_name_does_not_hide_the_function(name):
    importlib.import_module(f"rawtune.{name}")  # what the function's first call imports
    assert callable(rawtune.__dict__[name])
    if name != "export":
        with pytest.raises(ConfigError):
            getattr(rawtune, name)({"no_such_key": 1})


def test_export_is_callable_and_names_a_missing_run(tmp_path):
    with pytest.raises(RawtuneError, match="missing"):
        rawtune.export(str(tmp_path / "missing"), str(tmp_path / "out"))


def test_run_takes_a_pipeline_yaml_path(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("stages: 3\n")
    with pytest.raises(ConfigError):
        rawtune.run(str(bad))
