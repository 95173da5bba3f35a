"""The models zero-shot classification loads: a sentence encoder (with its sentence-transformers
pooling), a masked LM whose head was trained, or an NLI classifier with an entailment label. A head
the checkpoint lacks would be initialised at random by transformers; here it is refused instead."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rawtune.config.model import ModelConfig
from rawtune.errors import ModelError
from rawtune.modeling.backbone import Source, load_pretrained, load_pretrained_with_info

log = logging.getLogger("rawtune")


@dataclass(frozen=True)
class Pooling:
    mode: str = "mean"  # "mean" | "cls" | "max"
    normalize: bool = False


def sentence_pooling(ref: str) -> Pooling:
    """The pooling a sentence-transformers directory declares (modules.json → its Pooling module's
    config.json, and whether a Normalize module follows); mean pooling for any other model."""
    modules_file = Path(ref) / "modules.json"
    if not modules_file.is_file():
        return Pooling()
    try:
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
        pool_cfg: dict[str, Any] = {}
        for m in modules:
            if m.get("type", "").endswith(".Pooling"):
                pool_cfg = json.loads((Path(ref) / m["path"] / "config.json").read_text(encoding="utf-8"))
        normalize = any(m.get("type", "").endswith(".Normalize") for m in modules)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise ModelError(f"model {ref}: unreadable sentence-transformers modules.json: {e}") from None
    if pool_cfg.get("pooling_mode_cls_token"):
        mode = "cls"
    elif pool_cfg.get("pooling_mode_max_tokens"):
        mode = "max"
    else:
        mode = "mean"
    return Pooling(mode, normalize)


def _head_missing(model: Any, info: dict[str, Any]) -> list[str]:
    """Tensors outside the base model that the checkpoint did not hold (initialised at random)."""
    prefix = getattr(model, "base_model_prefix", "") + "."
    return sorted(k for k in info.get("missing_keys") or [] if not k.startswith(prefix))


def load_encoder(src: Source, cfg: ModelConfig) -> Any:
    from transformers import AutoModel

    return load_pretrained(src, AutoModel, cfg).eval()


def load_mlm(src: Source, cfg: ModelConfig) -> Any:
    """A masked LM whose prediction head comes from the checkpoint; refused otherwise."""
    from transformers import AutoModelForMaskedLM

    try:
        model, info = load_pretrained_with_info(src, AutoModelForMaskedLM, cfg)
    except ModelError as e:
        raise ModelError(f"{e} (the cloze method needs a masked-LM model)") from None
    missing = _head_missing(model, info)
    if missing:
        raise ModelError(
            f"model {src.ref} has no masked-LM head: {len(missing)} head tensors are not in the checkpoint "
            f"(e.g. {missing[0]}), so their scores would be random. The cloze method needs a model saved "
            "with its MLM head (a *ForMaskedLM checkpoint, e.g. a rawtune pretrain run); "
            "use --scoring embedding for a sentence encoder."
        )
    return model.eval()


def entailment_index(config: Any, ref: str) -> int:
    names = {int(i): str(name) for i, name in (config.id2label or {}).items()}
    hits = [i for i, name in names.items() if name.lower().startswith("entail")]
    if len(hits) != 1:
        raise ModelError(
            f"model {ref}: the nli method needs an NLI classifier with one 'entailment' label in "
            f"config.id2label; it has {sorted(names.values())}"
        )
    return hits[0]


def load_nli(src: Source, cfg: ModelConfig) -> tuple[Any, int]:
    """An NLI sequence classifier and the index of its entailment logit."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    try:
        config = AutoConfig.from_pretrained(
            src.ref, revision=cfg.revision, trust_remote_code=cfg.trust_remote_code
        )
    except (OSError, ValueError) as e:
        raise ModelError(f"model {src.ref}: {type(e).__name__}: {e}") from None
    entail = entailment_index(config, src.ref)
    model, info = load_pretrained_with_info(src, AutoModelForSequenceClassification, cfg, config=config)
    missing = _head_missing(model, info)
    if missing:
        raise ModelError(
            f"model {src.ref}: its classification head is not in the checkpoint (e.g. {missing[0]}); "
            "the nli method needs a trained NLI classifier"
        )
    return model.eval(), entail
