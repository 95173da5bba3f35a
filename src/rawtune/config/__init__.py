"""Typed configuration: schema sections, YAML loading with line marks, dotted overrides."""

from rawtune.config.augment import AugmentConfig  # registers the augment stage in STAGES
from rawtune.config.fewshot import FewshotConfig  # registers the fewshot stage in STAGES
from rawtune.config.hpo import HpoConfig  # registers the hpo stage in STAGES
from rawtune.config.loader import dump_config, load_config
from rawtune.config.schema import STAGES, PretrainConfig
from rawtune.config.zeroshot import ZeroshotConfig  # registers the zeroshot stage in STAGES

__all__ = [
    "STAGES",
    "AugmentConfig",
    "FewshotConfig",
    "HpoConfig",
    "PretrainConfig",
    "ZeroshotConfig",
    "dump_config",
    "load_config",
]
