"""`adapter`: bottleneck adapters (Houlsby et al. 2019; Pfeiffer et al. 2021). A small down-project /
ReLU / up-project block with a residual connection follows the output projection of each feed-forward
block ('pfeiffer'), or of the attention and the feed-forward block ('houlsby'), before the layer's
residual sum and LayerNorm; only the adapters and the head train.

Written by hand because peft has no bottleneck adapters and the `adapters` library pins
transformers 4.x (adapters 1.3 requires transformers ~=4.57), which this project is past. Each adapter
is a submodule of the projection it follows, run by a forward hook, so the base model's own parameter
names and code are untouched and the adapter is saved as rawtune's native adapter."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from rawtune.config.options import TuningOptions
from rawtune.errors import ConfigError, ConfigIssue
from rawtune.tuning.base import register_method, train_only

if TYPE_CHECKING:
    from torch import nn

# the output projections of each layer's attention and feed-forward blocks, by model type
_BERT = {"attention": r"\.attention\.output\.dense$", "ffn": r"\.layer\.\d+\.output\.dense$"}
PLACES: dict[str, dict[str, str]] = {
    **{t: _BERT for t in ("bert", "roberta", "xlm-roberta", "electra", "camembert", "deberta", "deberta-v2")},
    "distilbert": {"attention": r"\.attention\.out_lin$", "ffn": r"\.ffn\.lin2$"},
    "gpt2": {"attention": r"\.attn\.c_proj$", "ffn": r"\.mlp\.c_proj$"},
}


def places(model: nn.Module, placement: str) -> list[str]:
    model_type = getattr(model.config, "model_type", None)
    if model_type not in PLACES:
        raise ConfigError(
            [
                ConfigIssue(
                    "tuning.method",
                    f"'adapter' knows where to put adapters in {', '.join(sorted(PLACES))}, not in a "
                    f"'{model_type}' model; use 'lora' or 'ia3'",
                )
            ]
        )
    kinds = ("ffn",) if placement == "pfeiffer" else ("attention", "ffn")
    patterns = [re.compile(PLACES[model_type][k]) for k in kinds]
    return [n for n, _ in model.named_modules() if any(p.search(n) for p in patterns)]


class AdapterOptions(TuningOptions):
    method: Literal["adapter"] = "adapter"
    lr: ClassVar[float] = 1e-2
    adapter_placement: Literal["pfeiffer", "houlsby"] = Field(
        "pfeiffer",
        description="adapter: 'pfeiffer' (after each feed-forward block) or 'houlsby' (after the "
        "attention and the feed-forward block of every layer).",
    )
    adapter_reduction: int = Field(
        16, ge=1, description="adapter: bottleneck size = hidden size / reduction factor."
    )


@register_method("adapter")
class Adapter:
    options = AdapterOptions
    adapter = "rawtune"
    mergeable = False  # the ReLU in the bottleneck cannot fold into a linear weight

    @staticmethod
    def apply(model: nn.Module, cfg: AdapterOptions, *, max_length: int | None = None) -> nn.Module:
        from rawtune.tuning.bottleneck_layers import Bottleneck, run_adapter

        names = places(model, cfg.adapter_placement)
        hidden = model.config.hidden_size
        size = max(1, hidden // cfg.adapter_reduction)
        train_only(model)
        for name in names:
            module = model.get_submodule(name)
            weight = next(module.parameters())
            module.adapter = Bottleneck(hidden, size).to(device=weight.device, dtype=weight.dtype)
            module.register_forward_hook(run_adapter)
        return model
