"""`save_pretrained` directories as a run's model: plain, structurally pruned (per-layer head and FFN
counts in `config.rawtune_pruning`, loaded with the in-package class, no remote code), or dynamic int8;
and a base model with a fresh head for an adapter to load into."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from rawtune.artifacts.int8 import is_quantized, load_quantized
from rawtune.errors import ModelError
from rawtune.modeling import pruned_modeling as pm
from rawtune.modeling.pruned import pruned_class_for


def is_pruned(path: Path | str) -> bool:
    """A saved model with a pruned structure in its config.json."""
    config = Path(path) / "config.json"
    return config.is_file() and bool(json.loads(config.read_text()).get(pm.STRUCTURE_KEY))


def pruned_model_class(path: Path | str, auto_class_name: str) -> type:
    """The in-package class that loads the pruned model at `path` as `auto_class_name` would."""
    import transformers

    return pruned_class_for(transformers.AutoConfig.from_pretrained(path), auto_class_name)


def load_task_model(ref: str, auto_class_name: str, **config: Any) -> nn.Module:
    """A fine-tuned model from a save_pretrained directory (a run's model/: plain, pruned or int8), or
    a base model (directory or hub id) with a fresh head set up by `config` (num_labels, id2label, ...)
    for an adapter to load into."""
    import transformers
    from transformers.utils import logging as hf_logging

    if not config and is_quantized(Path(ref)):  # a `rawtune compress --quantize int8` model
        return load_quantized(Path(ref), auto_class_name)
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # a loaded model is one line in the log, not a bar
    try:
        if is_pruned(ref):  # `rawtune compress --prune`: per-layer head/FFN counts, no remote code needed
            return pruned_model_class(ref, auto_class_name).from_pretrained(ref, **config)
        return getattr(transformers, auto_class_name).from_pretrained(ref, **config)
    except (OSError, ValueError) as e:
        raise ModelError(f"model {ref}: {type(e).__name__}: {e}") from None
    except Exception as e:  # a hostile or broken weights file (UnpicklingError, SafetensorError)
        from rawtune.modeling.backbone import weights_error

        refused = weights_error(ref, e)
        if refused is None:
            raise
        raise refused from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
