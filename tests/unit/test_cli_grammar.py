"""One command-line grammar: every flag of every command has help text; every stage command takes
--config, dotted overrides and --no-progress (and --resume where it resumes); --seeds is a list."""

from __future__ import annotations

import argparse

import pytest

from rawtune.cli.main import build_parser, main
from rawtune.cli.overrides import progress_keys

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
    assert collect_overrides(args, [], {}, "fewshot") == {k: False for k in progress_keys("fewshot")}
    assert set(progress_keys("fewshot")) == {
        "setfit.train.progress",
        "pet.train.progress",
        "finetune.progress",
    }
    assert progress_keys("hpo") == ["finetune.train.progress"]


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
