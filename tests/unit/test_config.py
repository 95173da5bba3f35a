"""Config loading: typed schema, YAML line marks, dotted overrides, all errors at once."""

from __future__ import annotations

import pytest

from rawtune.config.loader import dump_config, load_config
from rawtune.errors import ConfigError

REQUIRED = {"output": "runs/x", "data.corpus": ["a.txt"], "model.name_or_path": "m"}


def test_defaults_and_overrides_are_typed():
    cfg = load_config("pretrain", overrides={**REQUIRED, "train.max_steps": 2000, "train.lr": "1e-4"})
    assert cfg.train.max_steps == 2000 and cfg.train.lr == pytest.approx(1e-4)
    assert cfg.objective.name == "mlm" and cfg.seed == 42


def test_yaml_errors_name_file_line_key_and_suggest(tmp_path):
    f = tmp_path / "my.yaml"
    f.write_text(
        "output: runs/x\nmodel:\n  name_or_path: m\ndata:\n  corpus: [a.txt]\ntrain:\n  lrr: 0.1\n"
        "  max_steps: lots\nobjective:\n  name: mln\n"
    )
    with pytest.raises(ConfigError) as e:
        load_config("pretrain", file=f)
    text = str(e.value)
    assert f"{f}:7: train.lrr: unknown key (did you mean 'train.lr'?)" in text
    assert f"{f}:8: train.max_steps:" in text
    assert f"{f}:10: objective.name:" in text
    assert len(e.value.issues) == 3  # all reported together


def test_cli_override_errors_name_the_flag():
    with pytest.raises(ConfigError) as e:
        load_config("pretrain", overrides={**REQUIRED, "train.batchsize": 4})
    assert "command line (--train.batchsize)" in str(e.value) and "train.batch_size" in str(e.value)


def test_missing_required_keys_are_listed():
    with pytest.raises(ConfigError) as e:
        load_config("pretrain")
    assert {i.key for i in e.value.issues} == {"output", "data.corpus", "model.name_or_path"}
    # scratch models need no backbone
    cfg = load_config("pretrain", overrides={"output": "o", "data.corpus": ["a"], "model.init": "scratch"})
    assert cfg.model.name_or_path is None


def test_yaml_syntax_error_has_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("train:\n  lr: [1, 2\n")
    with pytest.raises(ConfigError) as e:
        load_config("pretrain", file=f)
    assert str(f) in str(e.value) and "YAML syntax" in str(e.value)


def test_cross_field_validation():
    with pytest.raises(ConfigError, match="mask_token_frac"):
        load_config(
            "pretrain",
            overrides={**REQUIRED, "objective.mask_token_frac": 0.9, "objective.random_token_frac": 0.2},
        )


def test_resolved_config_roundtrips(tmp_path):
    cfg = load_config("pretrain", overrides={**REQUIRED, "train.epochs": 3, "objective.whole_word": True})
    f = tmp_path / "config.yaml"
    f.write_text(dump_config(cfg))
    again = load_config("pretrain", file=f)
    assert again == cfg
    assert "rawtune_version" in f.read_text() and "warmup_ratio" in f.read_text()  # every default expanded


def test_learning_rate_defaults_to_the_tuning_methods(tmp_path):
    import yaml

    from rawtune.config.loader import load_config
    from rawtune.config.options import TUNING_OPTIONS

    METHOD_LR = {m: TUNING_OPTIONS.get(m).lr for m in TUNING_OPTIONS}  # each method's own default
    assert load_config("finetune", overrides={}, require=False).train.lr == METHOD_LR["full"]
    lora = load_config("finetune", overrides={"tuning.method": "lora"}, require=False)
    assert lora.train.lr == METHOD_LR["lora"] != METHOD_LR["full"]
    given = load_config("finetune", overrides={"tuning.method": "lora", "train.lr": 1e-4}, require=False)
    assert given.train.lr == 1e-4
    # a resolved config written by a run reads back to the same lr, whatever the method
    path = tmp_path / "resolved.yaml"
    path.write_text(yaml.safe_dump(lora.model_dump(mode="json")))
    assert load_config("finetune", file=path, require=False).train.lr == METHOD_LR["lora"]
    from rawtune.tuning.base import METHODS

    assert (
        set(METHOD_LR)
        == set(METHODS.names())
        == {TUNING_OPTIONS.get(m).model_fields["method"].default for m in METHODS}
    )
