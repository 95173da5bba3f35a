"""One command-line grammar: every flag of every command has help text; every stage command takes
--config, dotted overrides and --no-progress (and --resume where it resumes); --seeds is a list."""

from __future__ import annotations

import argparse

import pytest

from rawtune.cli.main import build_parser, main
from rawtune.cli.overrides import leaf_keys

STAGES = (
    "pretrain",
    "finetune",
    "fewshot",
    "continual",
    "augment",
    "selftrain",
    "hpo",
    "compress",
    "zeroshot",
)
RESUMABLE = ("pretrain", "finetune", "fewshot", "continual", "selftrain", "hpo", "compress")


def _walk(parser: argparse.ArgumentParser, path: str):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, f"{path} {name}")
        else:
            yield path, action


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_flag_and_argument_has_help():
    missing = [
        f"{path}: {'/'.join(a.option_strings) or a.dest}"
        for path, a in _walk(build_parser(), "rawtune")
        if not isinstance(a, argparse._HelpAction) and not (a.help and a.help.strip())
    ]
    assert not missing, "flags without help text:\n" + "\n".join(missing)


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_command_takes_the_common_flags(stage):
    p = _commands()[stage]
    flags = {o for a in p._actions for o in a.option_strings}
    assert {"--config", "--no-progress"} <= flags
    assert ("--resume" in flags) == (stage in RESUMABLE)
    assert p.get_default("known_flags") is not None  # leftover --a.b=v flags are config overrides


def test_seeds_is_a_list_everywhere():
    for name, p in _commands().items():
        for a in p._actions:
            if "--seeds" in a.option_strings:
                assert a.type is None and "," in (a.metavar or ""), name


def test_no_progress_sets_every_progress_key():
    from rawtune.cli.overrides import collect_overrides

    args = argparse.Namespace(no_progress=True, known_flags=[])
    assert collect_overrides(args, [], {}, "fewshot") == {k: False for k in leaf_keys("fewshot", "progress")}
    assert set(leaf_keys("fewshot", "progress")) == {
        "setfit.train.progress",
        "pet.train.progress",
        "finetune.progress",
    }
    assert leaf_keys("hpo", "progress") == ["finetune.train.progress"]


@pytest.mark.parametrize(
    "seeds,why",
    [("3", "one seed: --seed 3"), ("1,3", "consecutive"), ("x", "distinct integers")],
)
def test_fewshot_seeds_list_is_refused_where_it_cannot_mean_one_range(seeds, why, capfd):
    assert main(["fewshot", "--seeds", seeds]) == 2
    err = capfd.readouterr().err
    assert why in err and len(err.strip().splitlines()) == 1, err


def test_fewshot_seeds_list_is_a_seed_range(monkeypatch):
    from rawtune.cli import fewshot_cmd

    seen = {}
    monkeypatch.setattr(fewshot_cmd, "stage_config", lambda stage, args, *a: seen.update(vars(args)) or 1 / 0)
    with pytest.raises(ZeroDivisionError):
        main(["fewshot", "--seeds", "5,6,7"])
    assert seen["seed"] == 5 and seen["n_seeds"] == 3


def _flag(parser: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return next((a for a in parser._actions if flag in a.option_strings), None)


def test_method_threads_and_name_mean_one_thing_in_every_command():
    commands = _commands()
    methods = {n for n, p in commands.items() if (a := _flag(p, "--method")) and a.help != argparse.SUPPRESS}
    assert methods == {"finetune", "selftrain", "hpo"}
    for name in methods:
        assert "tuning method" in _flag(commands[name], "--method").help, name
    # one shared --threads flag, on every command that runs torch
    threads = {n: _flag(p, "--threads") for n, p in commands.items() if _flag(p, "--threads")}
    assert set(STAGES) | {"evaluate", "predict"} <= set(threads)
    assert len({a.help for a in threads.values()}) == 1
    names = {n for n, p in commands.items() if (a := _flag(p, "--name")) and a.help != argparse.SUPPRESS}
    assert names == {"continual", "serve"}  # a model's name; evaluate's report name is --report-name


@pytest.mark.parametrize(
    "argv,new",
    [
        (["fewshot", "--method", "setfit"], "--learner"),
        (["zeroshot", "--method", "nli"], "--scoring"),
        (["evaluate", "RUN", "--data", "x.csv", "--name", "r"], "--report-name"),
    ],
)
def test_a_renamed_flag_is_refused_naming_its_new_name(argv, new, capfd):
    assert main(argv) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and new in err and argv[0] in err, err


def test_threads_sets_every_threads_key_of_the_stage_and_torch(monkeypatch):
    import torch

    from rawtune.cli.overrides import collect_overrides

    args = argparse.Namespace(threads=2, known_flags=[])
    assert collect_overrides(args, [], {}, "compress") == {"train.threads": 2, "measure.threads": 2}
    assert collect_overrides(args, ["--train.threads=1"], {}, "finetune") == {
        "train.threads": 1
    }  # a key wins
    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    monkeypatch.setattr("rawtune.cli.evaluate_cmd.handle", lambda args, extra: 0)
    assert main(["evaluate", "RUN", "--data", "x.csv", "--threads", "3"]) == 0
    assert seen == [3]
    assert main(["predict", "RUN", "--input", "x.txt", "--output", "o.jsonl", "--threads", "0"]) == 2
