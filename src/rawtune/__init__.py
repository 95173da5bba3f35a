"""rawtune: self-supervised learning on raw text, then fine-tuning, in one toolkit.

Importing the package is cheap: heavy modules (torch, transformers) load only when an API
function is first called, so `rawtune --help` starts instantly.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from rawtune._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from rawtune.config.augment import AugmentConfig
    from rawtune.config.compress import CompressConfig
    from rawtune.config.continual import ContinualConfig
    from rawtune.config.fewshot import FewshotConfig
    from rawtune.config.hpo import HpoConfig
    from rawtune.config.schema import FinetuneConfig, PretrainConfig
    from rawtune.config.selftrain import SelftrainConfig
    from rawtune.config.zeroshot import ZeroshotConfig
    from rawtune.pipeline.spec import PipelineSpec
    from rawtune.runs.rundir import RunDir
    from rawtune.serve.predictor import Predictor
    from rawtune.stages.continual import ContinualResult
    from rawtune.stages.selftrain import SelftrainResult

__all__ = [
    "Predictor",
    "__version__",
    "augment",
    "compress",
    "continual",
    "evaluate",
    "export",
    "fewshot",
    "finetune",
    "hpo",
    "pretrain",
    "run",
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


def fewshot(config: FewshotConfig | dict[str, Any] | str, *, resume: bool = False) -> dict[str, Any]:
    """k examples per class drawn from a pool, one run per seed (OUTPUT/seed-N); returns (and
    writes) OUTPUT/metrics.json. See `rawtune.config.fewshot.FewshotConfig`."""
    from rawtune.stages.fewshot import run_fewshot

    return run_fewshot(config, resume=resume)


def continual(
    config: ContinualConfig | dict[str, Any] | str, *, resume: bool = False
) -> ContinualResult | None:
    """The next version of a fine-tuned run on new labeled data (replay, head growth, forgetting
    report and gate); None when `if_new` finds the data already used. See `rawtune.config.continual`."""
    from rawtune.stages.continual import run_continual

    return run_continual(config, resume=resume)


def compress(
    config: CompressConfig | dict[str, Any] | str, *, resume: bool = False
) -> tuple[RunDir, dict[str, Any]]:
    """A compressed copy of a fine-tuned run (int8, distillation, pruning), measured and gated;
    returns the run and its metrics.json (a rejected model raises GateError). See
    `rawtune.config.compress.CompressConfig`."""
    from rawtune.stages.compress import compress_run

    return compress_run(config, resume=resume)


def hpo(config: HpoConfig | dict[str, Any] | str, *, resume: bool = False) -> dict[str, Any]:
    """An Optuna study over fine-tuning keys (config.finetune: the config every trial starts from);
    returns OUTPUT/metrics.json. See `rawtune.config.hpo.HpoConfig`."""
    from rawtune.hpo.study import run_hpo

    return run_hpo(config, resume=resume)


def export(run: str, output: str, **options: Any) -> dict[str, Any]:
    """Export a run's model to OUTPUT (options: merge, onnx, quantize, opset: the flags of
    `rawtune export`); returns what was written. It has no config: the run is its input."""
    from rawtune.stages.export import export_run

    return export_run(str(run), str(output), **options)


def run(
    pipeline: PipelineSpec | dict[str, Any] | str, *, serve: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Run a pipeline (`rawtune run`): a pipeline YAML path, its content as a dict, or a
    `PipelineSpec`; finished stages are reused, an interrupted one resumes. Returns its state."""
    from rawtune.pipeline import Pipeline, PipelineSpec
    from rawtune.pipeline.spec import validate_pipeline

    if isinstance(pipeline, dict):
        pipeline = validate_pipeline(pipeline, "pipeline (dict)", {})
    pipe = Pipeline(pipeline) if isinstance(pipeline, PipelineSpec) else Pipeline.load(pipeline)
    return pipe.run(serve=serve, progress=progress)


def __getattr__(name: str) -> Any:
    if name == "Predictor":  # lazy: importing rawtune stays torch-free
        from rawtune.serve.predictor import Predictor

        return Predictor
    raise AttributeError(f"module 'rawtune' has no attribute {name!r}")


def train_tokenizer(*args: Any, **kwargs: Any) -> Any:
    """Train a WordPiece / BPE / Unigram tokenizer on a corpus; see `rawtune.modeling.tokenizers`."""
    from rawtune.modeling.tokenizers import train_tokenizer as _train

    return _train(*args, **kwargs)


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._rawtune_api(*args, **kwargs)


class _Package(types.ModuleType):
    """Several API functions share their name with a subpackage (rawtune.fewshot, rawtune.compress,
    rawtune.selftrain, ...). Importing the subpackage sets the package's attribute to it, which would
    hide the function after its first call; the subpackage is made callable as the function instead
    (`import rawtune.fewshot.setfit` keeps working, and so does `rawtune.fewshot(config)`)."""

    def __setattr__(self, name: str, value: Any) -> None:
        api = _SHADOWED.get(name)
        if api is not None and type(value) is types.ModuleType:
            value.__class__ = _CallableModule
            value._rawtune_api = api  # type: ignore[attr-defined]
        super().__setattr__(name, value)


_SHADOWED = {f.__name__: f for f in (selftrain, fewshot, continual, compress, hpo, export)}
sys.modules[__name__].__class__ = _Package
