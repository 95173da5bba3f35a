"""rawtune: self-supervised learning on raw text, then fine-tuning, in one toolkit.

Importing the package is cheap: heavy modules (torch, transformers) load only when an API
function is first called, so `rawtune --help` starts instantly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rawtune._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from rawtune.config.augment import AugmentConfig
    from rawtune.config.schema import FinetuneConfig, PretrainConfig
    from rawtune.config.selftrain import SelftrainConfig
    from rawtune.config.zeroshot import ZeroshotConfig
    from rawtune.runs.rundir import RunDir
    from rawtune.serve.predictor import Predictor
    from rawtune.stages.selftrain import SelftrainResult

__all__ = [
    "Predictor",
    "__version__",
    "augment",
    "evaluate",
    "finetune",
    "pretrain",
    "selftrain",
    "train_tokenizer",
    "zeroshot",
]


def pretrain(config: PretrainConfig | dict[str, Any] | str, *, resume: bool = False) -> RunDir:
    """Run self-supervised pretraining (MLM or CLM) and return the finished run directory.

    `config` is a `PretrainConfig`, a plain dict with the same keys, or a path to a YAML file.
    """
    from rawtune.stages.pretrain import run_pretrain

    return run_pretrain(config, resume=resume)


def finetune(config: FinetuneConfig | dict[str, Any] | str, *, resume: bool = False) -> RunDir:
    """Fine-tune a task head (ner, classification, pairs) and return the finished run directory."""
    from rawtune.stages.finetune import run_finetune

    return run_finetune(config, resume=resume)


def augment(config: AugmentConfig | dict[str, Any] | str) -> dict[str, Any]:
    """Write an augmented copy of a labeled file (originals + `factor` copies of each, same format)
    and return the counts, also written to OUTPUT.augment.json; see `rawtune.config.augment`."""
    from rawtune.stages.augment import run_augment

    return run_augment(config)


def selftrain(config: SelftrainConfig | dict[str, Any] | str, *, resume: bool = False) -> SelftrainResult:
    """Self-training on raw text: a teacher labels the unlabeled text, students learn from the gold
    data plus its confident labels, round after round; returns the output directory, the best
    round's run and OUTPUT/selftrain.json. See `rawtune.config.selftrain.SelftrainConfig`."""
    from rawtune.stages.selftrain import run_selftrain

    return run_selftrain(config, resume=resume)


def evaluate(run: str, data: str, *, name: str | None = None) -> dict[str, Any]:
    """Evaluate a fine-tuned run on a labeled file; writes RUN/eval/NAME/ and returns the metrics."""
    from rawtune.stages.evaluate import evaluate_run

    return evaluate_run(run, data, name=name)[0]


def zeroshot(config: ZeroshotConfig | dict[str, Any] | str) -> RunDir:
    """Classify a table with no training (embedding similarity, cloze prompts or NLI) and return the
    finished run directory; see `rawtune.config.zeroshot.ZeroshotConfig` for the keys."""
    from rawtune.stages.zeroshot import run_zeroshot

    return run_zeroshot(config)


def __getattr__(name: str) -> Any:
    if name == "Predictor":  # lazy: importing rawtune stays torch-free
        from rawtune.serve.predictor import Predictor

        return Predictor
    raise AttributeError(f"module 'rawtune' has no attribute {name!r}")


def train_tokenizer(*args: Any, **kwargs: Any) -> Any:
    """Train a WordPiece / BPE / Unigram tokenizer on a corpus; see `rawtune.modeling.tokenizers`."""
    from rawtune.modeling.tokenizers import train_tokenizer as _train

    return _train(*args, **kwargs)
