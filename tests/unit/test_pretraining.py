"""Continued pretraining's pure parts: the number of steps from the corpus size, when the head warms
up, and the verdict on what adaptation did."""

from __future__ import annotations

from rawtune.config.loader import load_config
from rawtune.pretraining.summary import adaptation, warnings
from rawtune.pretraining.warmup import head_config, sized, wants_head_warmup
from rawtune.train.fit import FitResult


def _cfg(**overrides):
    return load_config("pretrain", overrides=overrides, require=False)


def test_steps_are_epochs_over_the_corpus_capped():
    cfg = _cfg()
    assert cfg.train.lr == 1e-4 and cfg.train.warmup_ratio == 0.06 and cfg.train.restore_best
    assert sized(cfg.train, 30, 1, cfg.train.steps_cap).max_steps == 300  # 10 epochs of 30 batches
    assert sized(cfg.train, 1000, 1, cfg.train.steps_cap).max_steps == 2000  # the cap
    assert sized(cfg.train, 30, 2, cfg.train.steps_cap).max_steps == 150  # two processes share the batches
    assert sized(cfg.train, 1000, 1, None) is cfg.train  # no cap: the epochs decide, as in any run
    fixed = _cfg(**{"train.max_steps": 7}).train
    assert sized(fixed, 1000, 1, 2000).max_steps == 7
    assert sized(cfg.train, None, 1, 2000).max_steps is None  # streaming: train.max_steps is required


def test_the_head_warms_up_when_the_checkpoint_lacks_it_and_never_from_scratch():
    missing = ["cls.predictions.bias"]
    assert wants_head_warmup(_cfg(), missing) and not wants_head_warmup(_cfg(), [])
    assert wants_head_warmup(_cfg(**{"head_warmup.enabled": True}), [])
    assert not wants_head_warmup(_cfg(**{"head_warmup.enabled": False}), missing)
    assert not wants_head_warmup(_cfg(**{"model.init": "scratch", "head_warmup.enabled": True}), missing)
    h = head_config(_cfg(**{"head_warmup.max_steps": 50, "head_warmup.patience": 3}))
    assert (h.max_steps, h.lr, h.scheduler, h.early_stopping_patience, h.restore_best) == (
        50, 1e-3, "constant", 3, True,
    )  # fmt: skip


def _result(phases, before, after, best_step):
    state = {"best_step": best_step}
    return FitResult(state, before, after, 100, phases=phases)


def test_adaptation_is_judged_from_the_warmed_up_model():
    warm = {"loss": 4.0, "perplexity": 54.6}
    phases = [{"before": {"loss": 10.0}, "after": warm, "first_step": 1}, {"before": warm, "first_step": 41}]
    better = adaptation(_result(phases, {"loss": 10.0}, {"loss": 3.5, "perplexity": 33.1}, 90))
    assert better["from"] == "head warm-up" and better["loss"] == [4.0, 3.5] and better["improved"]
    assert warnings(better) == []
    kept = adaptation(_result(phases, {"loss": 10.0}, warm, 40))
    assert kept["kept_start"] and "kept unchanged" in warnings(kept)[0]
    worse = adaptation(_result([], {"loss": 3.0, "perplexity": 20.1}, {"loss": 3.2, "perplexity": 24.5}, 50))
    assert worse["from"] == "before training" and not worse["kept_start"]
    assert warnings(worse) == [
        "continued pretraining made validation loss worse: 3.0000 -> 3.2000, perplexity 20.1 -> 24.5; "
        "try a lower train.lr or fewer steps"
    ]
    assert adaptation(_result([], None, None, None)) is None  # no validation blocks
