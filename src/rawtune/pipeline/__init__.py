"""Multi-stage runs: a pipeline file declares stages (prepare, tokenizer, pretrain, finetune,
learning_curve, evaluate, compress, export, serve); `Pipeline.run` runs them with fingerprint-based
reuse, resume at the failed stage, and lineage in OUTPUT/pipeline.json."""

from rawtune.pipeline.runner import Pipeline, format_plan, read_state
from rawtune.pipeline.spec import PipelineSpec, StageSpec, read_pipeline

__all__ = ["Pipeline", "PipelineSpec", "StageSpec", "format_plan", "read_pipeline", "read_state"]
