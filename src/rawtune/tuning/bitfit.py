"""`bitfit` (Ben Zaken et al. 2022): only the bias terms and the task head train.

Written by hand because peft has no BitFit: it is a requires_grad mask. RUN/adapter/ holds only the
biases and the head (rawtune's native adapter, about 0.5 % of the model); RUN/model/ the whole model."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from rawtune.config.options import TuningOptions
from rawtune.tuning.base import register_method, train_only

if TYPE_CHECKING:
    from torch import nn


class BitFitOptions(TuningOptions):
    method: Literal["bitfit"] = "bitfit"
    lr: ClassVar[float] = 5e-3


@register_method("bitfit")
class BitFit:
    options = BitFitOptions
    adapter = "rawtune"
    mergeable = True  # the trained model is an ordinary model: RUN/model/ holds it whole

    @staticmethod
    def apply(model: nn.Module, cfg: BitFitOptions, *, max_length: int | None = None) -> nn.Module:
        train_only(model, also=lambda name: name.split(".")[-1] == "bias")
        return model
