"""Pruning for `rawtune compress --prune SPEC`: the spec, and the one import for the stage.

Two kinds, with different payoffs, each in its own module:

- `magnitude`: unstructured magnitude pruning zeroes the smallest encoder linear weights (one-shot or
  on a cubic schedule during recovery training). The model keeps its shapes: sparse, not smaller.
- `structured`: removes attention heads, FFN neurons and whole layers of BERT-family encoders, so the
  model is smaller and faster; the structure is recorded in `config.rawtune_pruning`.

Their public names are re-exported here (`from rawtune.compress import prune as P; P.prune_heads`),
with `modeling.pruned`'s writer of a pruned model (`P.save_pruned`).
"""

from __future__ import annotations

from rawtune.compress.magnitude import (
    MagnitudeSchedule,
    apply_masks,
    magnitude_masks,
    prunable_weights,
    prune_magnitude,
    sparsity_report,
)
from rawtune.compress.structured import (
    FAMILY,
    Batch,
    LossFn,
    drop_layers,
    encoder_layers,
    ffn_importance,
    gates,
    head_importance,
    layer_importance,
    prune_ffn,
    prune_heads,
    structure,
)
from rawtune.errors import ConfigError, ConfigIssue
from rawtune.modeling.pruned import MODULE_FILE, save_pruned

__all__ = [
    "FAMILY",
    "KINDS",
    "MODULE_FILE",
    "Batch",
    "LossFn",
    "MagnitudeSchedule",
    "apply_masks",
    "drop_layers",
    "encoder_layers",
    "ffn_importance",
    "gates",
    "head_importance",
    "layer_importance",
    "magnitude_masks",
    "parse_prune_spec",
    "prunable_weights",
    "prune_ffn",
    "prune_heads",
    "prune_magnitude",
    "save_pruned",
    "sparsity_report",
    "structure",
]

KINDS = {
    "magnitude": "a fraction of the encoder's linear weights",
    "heads": "a fraction of the attention heads",
    "ffn": "a fraction of the FFN neurons",
    "layers": "a number of layers",
}


def parse_prune_spec(spec: str, key: str = "prune.spec") -> list[tuple[str, float | int]]:
    """'heads:0.3,ffn:0.2,layers:1,magnitude:0.5' -> [("heads", 0.3), ...], applied in that order.
    Fractions are in (0, 1); `layers` is a whole count >= 1. Each kind at most once."""

    def bad(message: str) -> ConfigError:
        return ConfigError([ConfigIssue(key, f"{message} in {spec!r}; expected e.g. 'heads:0.3,layers:1'")])

    out: list[tuple[str, float | int]] = []
    for part in (spec or "").split(","):
        kind, sep, value = (s.strip() for s in part.partition(":"))
        if not sep or not kind or not value:
            raise bad(f"'{part.strip()}' is not KIND:AMOUNT (kinds: {', '.join(KINDS)})")
        if kind not in KINDS:
            raise bad(f"unknown kind '{kind}' (kinds: {', '.join(KINDS)})")
        if any(k == kind for k, _ in out):
            raise bad(f"'{kind}' given twice")
        try:
            amount = float(value)
        except ValueError:
            raise bad(f"{kind}: '{value}' is not a number ({KINDS[kind]})") from None
        if kind == "layers":
            if amount != int(amount) or amount < 1:
                raise bad(f"layers: '{value}' is not a whole number >= 1 (layers to remove)")
            out.append((kind, int(amount)))
        elif not 0 < amount < 1:
            raise bad(f"{kind}: {value} is not a fraction in (0, 1) ({KINDS[kind]})")
        else:
            out.append((kind, amount))
    return out
