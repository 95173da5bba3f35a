"""A task's own fine-tuning defaults (`TaskOptions.train_defaults`): NER's measured rate, epochs and
batch apply where the config gives none, never over a key it gives, and its rate only under full
fine-tuning (another method keeps its own)."""

from __future__ import annotations

from rawtune.config.loader import load_config

REQ = {"output": "o", "data.train": "t", "model.name_or_path": "m"}


def _train(**overrides):
    return load_config("finetune", overrides={**REQ, **overrides}).train


def test_ner_takes_its_own_defaults():
    t = _train(**{"task.name": "ner"})
    assert (t.lr, t.epochs, t.batch_size) == (1e-4, 5.0, 32)


def test_a_given_key_wins_and_the_others_stay_the_tasks():
    t = _train(**{"task.name": "ner", "train.lr": 3e-5, "train.epochs": 2})
    assert (t.lr, t.epochs, t.batch_size) == (3e-5, 2.0, 32)


def test_another_tuning_method_keeps_its_rate():
    from rawtune.config.options import TUNING_OPTIONS

    t = _train(**{"task.name": "ner", "tuning.method": "lora"})
    assert t.lr == TUNING_OPTIONS.get("lora").lr and t.epochs == 5.0


def test_other_tasks_keep_the_fine_tuning_defaults():
    t = _train(**{"task.name": "classification"})
    assert (t.lr, t.epochs, t.batch_size) == (5e-5, 3.0, 16)


def test_the_resolved_config_names_the_values_used(tmp_path):
    import yaml

    from rawtune.config.loader import load_config as load

    cfg = load("finetune", overrides={**REQ, "task.name": "ner"})
    dumped = yaml.safe_load(yaml.safe_dump(cfg.model_dump(mode="json")))
    assert dumped["train"]["lr"] == 1e-4 and dumped["train"]["batch_size"] == 32
