"""Typed configuration: schema sections, YAML loading with line marks, dotted overrides."""

from rawtune.config.loader import dump_config, load_config
from rawtune.config.schema import STAGES, PretrainConfig

__all__ = ["STAGES", "PretrainConfig", "dump_config", "load_config"]
