"""The training-loop section every training stage shares (pretrain, finetune, compress), with each
stage's defaults as a subclass."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rawtune.config.base import Section


class TrainConfig(Section):
    max_steps: int | None = Field(None, ge=1, description="Optimizer steps; overrides epochs when set.")
    epochs: float = Field(1.0, gt=0.0)
    batch_size: int = Field(
        32, ge=1, description="Examples per optimizer step per process (before accumulation)."
    )
    grad_accum: int = Field(1, ge=1)
    lr: float = Field(5e-5, gt=0.0)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    weight_decay: float = Field(0.01, ge=0.0)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = Field(1e-8, gt=0.0)
    momentum: float = Field(0.9, ge=0.0, description="SGD only.")
    scheduler: Literal["linear", "cosine", "constant"] = "linear"
    warmup_ratio: float = Field(0.0, ge=0.0, le=1.0)
    warmup_steps: int | None = Field(None, ge=0, description="Overrides warmup_ratio when set.")
    max_grad_norm: float | None = Field(1.0, gt=0.0)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="auto: bf16 autocast where this machine runs it faster (measured once per machine and "
        "cached; a GPU with bf16 always), else fp32; or bf16 / fp16 (CUDA only) / fp32 as named.",
    )
    save_steps: int = Field(500, ge=1)
    eval_steps: int = Field(500, ge=1)
    log_steps: int = Field(10, ge=1)
    keep_last: int = Field(2, ge=1, description="Checkpoints kept besides the best while the run is alive.")
    keep_checkpoints: int = Field(
        0,
        ge=0,
        description="Checkpoints kept once the run is complete (the newest N); 0: none, the final "
        "model is in RUN/model/. With restore_best false, the best evaluation's checkpoint is kept too "
        "when one was written at that step. An unfinished run keeps what --resume needs.",
    )
    early_stopping_patience: int | None = Field(None, ge=1, description="Evaluations without improvement.")
    eval_before: bool = Field(True, description="Evaluate once before training (the 'before' metrics).")
    threads: int | None = Field(None, ge=1, description="torch intra-op threads; default: torch's choice.")
    progress: bool = True
    head_lr: float | None = Field(
        None, gt=0.0, description="Learning rate of the task head (parameters not in the backbone)."
    )
    layer_decay: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="Layer-wise LR decay: layer k of L gets lr * decay^(L-k); embeddings decay^(L+1).",
    )
    metric_for_best: str | None = Field(
        None, description="Validation metric that picks the best model (default: the task's own)."
    )
    restore_best: bool = Field(
        False, description="End with the weights of the best evaluation, not the last."
    )


class FinetuneTrainConfig(TrainConfig):
    """Fine-tuning defaults (the BERT recipe on small data): a few epochs, small batches, warm-up."""

    lr: float = Field(
        5e-5,
        gt=0.0,
        description="Peak learning rate; default by task and tuning.method (5e-5 for full, NER 1e-4; "
        "2e-3 lora, ...).",
    )

    epochs: float = Field(3.0, gt=0.0, description="Passes over the training data (NER: 5 by default).")
    batch_size: int = Field(
        16, ge=1, description="Examples per optimizer step per process (NER: 32 sentences by default)."
    )
    warmup_ratio: float = Field(0.1, ge=0.0, le=1.0)
    eval_steps: int = Field(100, ge=1)
    save_steps: int = Field(100, ge=1)
    restore_best: bool = Field(True, description="End with the weights of the best evaluation.")


class CompressTrainConfig(FinetuneTrainConfig):
    """Distillation and recovery training: the fine-tuning recipe, at the rate a student made of the
    teacher's layers learns best at (measured on CoNLL-2003, see benchmarks/README.md)."""

    lr: float = Field(1e-4, gt=0.0, description="Peak learning rate.")


class PretrainTrainConfig(TrainConfig):
    """Continued-pretraining defaults (the DAPT/TAPT recipe, Gururangan et al. 2020, at a batch a CPU
    runs): a peak rate twice fine-tuning's with a short warm-up, many passes over a small corpus (a
    task's own sentences) but a capped number of steps on a large one (a domain corpus is sampled,
    not read ten times), and the best validation loss kept: continued pretraining ends no worse on
    held-out text than where it started, once its head is trained."""

    lr: float = Field(1e-4, gt=0.0, description="Peak learning rate.")
    epochs: float = Field(
        10.0, gt=0.0, description="Passes over the corpus (at most steps_cap steps); max_steps overrides."
    )
    steps_cap: int | None = Field(
        2000,
        ge=1,
        description="Without max_steps: epochs x batches per epoch, but at most this many optimizer "
        "steps; null: no cap.",
    )
    warmup_ratio: float = Field(0.06, ge=0.0, le=1.0)
    eval_steps: int = Field(200, ge=1)
    save_steps: int = Field(200, ge=1)
    restore_best: bool = Field(
        True,
        description="End with the weights of the best validation loss (after a head warm-up, the "
        "warmed-up model counts: adaptation that never beats it is not kept).",
    )
