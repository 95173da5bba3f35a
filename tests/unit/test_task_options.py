"""Each task and tuning method owns its options: the `task` and `tuning` sections are chosen by
`task.name` / `tuning.method`, with the same keys and flags as the flat sections they replace. A
config written before (every task and tuning key listed at its default) loads, compares equal on
--resume and keeps its fingerprint; describing a task or validating a config imports no torch."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
import yaml

from rawtune.config.loader import dump_config, load_config
from rawtune.errors import ConfigError

# the flat `task` and `tuning` sections of the schema before each member had its own options, as
# every config.yaml of that time lists them
OLD_TASK = {
    "label_kind": "single",
    "subword_labels": "first",
    "decode": "viterbi",
    "crf": False,
    "case_features": "auto",
    "class_weights": "none",
    "threshold": 0.5,
    "unanswerable": False,
    "null_threshold": 0.0,
    "n_best": 20,
    "max_answer_length": 30,
    "max_question_length": 64,
    "no_relation_label": "no_relation",
    "entity_markers": "typed",
}
OLD_TUNING = {
    "freeze_embeddings": False,
    "freeze_layers": 0,
    "head_only": False,
    "gradual_unfreeze": 0,
    "lora_r": 8,
    "lora_alpha": 16.0,
    "lora_dropout": 0.1,
    "use_dora": False,
    "use_rslora": False,
    "target_modules": None,
    "feedforward_modules": None,
    "num_virtual_tokens": 20,
    "adapter_placement": "pfeiffer",
    "adapter_reduction": 16,
}
REQUIRED = {"output": "out", "data.train": "train.conll", "model.name_or_path": "bert"}


def old_config(tmp_path, task: dict, tuning: dict):
    """A resolved config as the flat schema wrote it."""
    cfg = load_config(
        "finetune",
        overrides={
            **REQUIRED,
            **{f"task.{k}": v for k, v in task.items()},
            "tuning.method": tuning["method"],
        },
    )
    data = yaml.safe_load(dump_config(cfg))
    data["task"] = {"name": task["name"], **OLD_TASK, **task}
    data["tuning"] = {"method": tuning["method"], **OLD_TUNING, **tuning}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, data


def old_fingerprint(data: dict) -> str:
    """config_fingerprint as it was computed over the flat sections."""
    from rawtune.config.identity import _drop_inert, _flatten, _resume_free

    flat = {k: v for k, v in _drop_inert(_flatten(data)).items() if not _resume_free(k)}
    return hashlib.sha256(json.dumps(flat, sort_keys=True).encode()).hexdigest()[:16]


@pytest.mark.parametrize(
    ("task", "tuning", "options"),
    [
        ({"name": "ner"}, {"method": "full"}, "NerOptions"),
        ({"name": "qa", "n_best": 5}, {"method": "lora", "lora_r": 4}, "QAOptions"),
        (
            {"name": "classification", "label_kind": "multi"},
            {"method": "freeze", "head_only": True},
            "ClassificationOptions",
        ),
    ],
)
def test_a_flat_config_of_before_loads_resumes_and_keeps_its_fingerprint(tmp_path, task, tuning, options):
    from rawtune.config.identity import check_same_config, config_fingerprint

    path, data = old_config(tmp_path, task, tuning)
    cfg = load_config("finetune", file=path)
    assert type(cfg.task).__name__ == options and cfg.task.model_dump().items() >= task.items()
    assert cfg.tuning.model_dump().items() >= tuning.items()
    assert "n_best" not in yaml.safe_load(dump_config(cfg))["task"] or task["name"] == "qa"
    check_same_config(path, cfg)  # --resume: the same config
    assert config_fingerprint(cfg) == old_fingerprint(data)


def test_an_option_of_another_task_names_file_line_and_the_task(tmp_path):
    path = tmp_path / "ft.yaml"
    path.write_text("task:\n  name: ner\n  n_best: 5\ntuning:\n  method: lora\n  head_only: true\n")
    with pytest.raises(ConfigError) as e:
        load_config("finetune", file=path, require=False)
    text = str(e.value)
    assert f"{path}:3: task.n_best: task.n_best applies to task 'qa', not 'ner'" in text
    assert (
        f"{path}:6: tuning.head_only: tuning.head_only applies to method 'freeze' or 'full', not 'lora'"
        in text
    )
    with pytest.raises(
        ConfigError, match=r"--task.n_bset\): task.n_bset: unknown key \(did you mean 'task.n_best'"
    ):
        load_config("finetune", overrides={"task.name": "qa", "task.n_bset": 5}, require=False)
    with pytest.raises(ConfigError, match=r"task.name: .*got 'nre' \(did you mean 'ner'\?\)"):
        load_config("finetune", overrides={"task.name": "nre"}, require=False)


def test_config_show_prints_every_default_of_the_chosen_task_and_method():
    cfg = yaml.safe_load(
        dump_config(
            load_config("finetune", overrides={"task.name": "qa", "tuning.method": "lora"}, require=False)
        )
    )
    assert cfg["task"] == {
        "name": "qa",
        "unanswerable": False,
        "null_threshold": 0.0,
        "n_best": 20,
        "max_answer_length": 30,
        "max_question_length": 64,
    }
    assert set(cfg["tuning"]) == {
        "method",
        "target_modules",
        "lora_r",
        "lora_alpha",
        "lora_dropout",
        "use_dora",
        "use_rslora",
    }


def test_validating_a_config_and_describing_a_task_import_no_torch():
    code = (
        "import sys\n"
        "from rawtune.config.loader import load_config\n"
        "from rawtune.tasks.base import task_info\n"
        "cfg = load_config('finetune', overrides={'task.name': 'relations', 'tuning.method': 'adapter'}, require=False)\n"
        "info = task_info('classification', {'task': {'label_kind': 'regression'}})\n"
        "assert info.report_kind == 'regression' and info.primary == ('pearson', True), info\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'numpy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
