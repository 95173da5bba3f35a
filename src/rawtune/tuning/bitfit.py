"""`bitfit` (Ben Zaken et al. 2022): only the bias terms and the task head train.

Written by hand because peft has no BitFit: it is a requires_grad mask. RUN/adapter/ holds only the
biases and the head (rawtune's native adapter, about 0.5 % of the model); RUN/model/ the whole model."""

from __future__ import annotations

from torch import nn

from rawtune.config.schema import TuningConfig
from rawtune.tuning.base import METHODS, train_only


@METHODS.register("bitfit")
class BitFit:
    adapter = "rawtune"
    mergeable = True  # the trained model is an ordinary model: RUN/model/ holds it whole

    @staticmethod
    def apply(model: nn.Module, cfg: TuningConfig, *, max_length: int | None = None) -> nn.Module:
        train_only(model, also=lambda name: name.split(".")[-1] == "bias")
        return model
