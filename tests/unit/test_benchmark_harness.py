"""The benchmark scripts' shared harness (benchmarks/harness.py): its pure parts, and that every
benchmark script still starts (`--help`). No model is trained here."""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    """A benchmarks/ module by its path, under its own name: tests/reliability has a `harness`
    module too, and a plain import would get whichever came first."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


harness = _load("harness")
corpora = _load("corpora")
# the scripts (a module the scripts share — harness, recipe, corpora, ner_hf — has no __main__)
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if '__name__ == "__main__"' in p.read_text(encoding="utf-8"))
CPUINFO = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse sse2 avx2 avx512f avx512_vnni avx512_bf16 amx_tile
bogomips\t: 4000.00

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse sse2 avx2 avx512f avx512_vnni avx512_bf16 amx_tile amx_bf16
"""


def test_interleave_runs_every_arm_once_per_round():
    assert harness.interleave(["A", "B"], 3) == [(0, "A"), (0, "B"), (1, "A"), (1, "B"), (2, "A"), (2, "B")]
    order = [arm for _, arm in harness.interleave(["A", "B", "C"], 2, mirror=True)]
    assert order == ["A", "B", "C", "C", "B", "A"]
    assert harness.interleave(["A"], 0) == []


def test_run_schedule_skips_a_broken_group_and_keeps_going_after_a_lone_failure():
    calls = []

    def run(rep, arm):
        calls.append((rep, arm))
        if arm == ("s1", "bad"):
            return "bad is broken"
        if arm == ("s1", "flaky") and rep == 0:
            return None  # failed on its own: not kept, the arm goes on
        return {"rep": rep, "arm": arm}

    arms = [("s1", "ok"), ("s1", "bad"), ("s1", "flaky"), ("s2", "bad")]
    results, broken = harness.run_schedule(harness.interleave(arms, 2), run, group=lambda a: a[1])
    assert broken == {"bad": "bad is broken"}
    assert ("s2", "bad") not in [arm for _, arm in calls]  # the group broke before its other runs
    assert [r["rep"] for r in results["ok"]] == [0, 1]
    assert [r["rep"] for r in results["flaky"]] == [1]
    assert results["bad"] == []


def test_median_spread_and_span_ignore_missing_values():
    assert harness.median([3.0, None, 1.0, 2.0]) == 2.0
    assert harness.median([None]) is None
    assert harness.spread([2.5, None, 1.0, 4.0]) == (1.0, 4.0)
    assert harness.spread([]) is None
    assert harness.span([12, 9, 15]) == "9–15"
    assert harness.span([1.234, 2.0], ".1f") == "1.2–2.0"
    assert harness.span([None]) == "—"


def test_mean_and_std_over_seeds():
    assert harness.mean_and_std([0.5]) == (0.5, 0.0)
    mean, std = harness.mean_and_std([0.2, 0.4])
    assert mean == pytest.approx(0.3) and std == pytest.approx(0.1414213562)
    assert harness.mean_std([0.2, 0.4]) == "0.3000 ± 0.1414"
    assert harness.mean_std([0.25]) == "0.2500"
    assert harness.mean_std([0.25], zero_std=True) == "0.2500 ± 0.0000"
    assert harness.mean_std([]) == "—"
    runs = [{"seed": 1, "f1": 0.5}, {"seed": 1, "f1": 0.7}, {"seed": 2, "f1": 0.9}, {"seed": 3, "f1": None}]
    assert harness.per_seed(runs, lambda r: r["f1"]) == pytest.approx([0.6, 0.9])


def test_formatting_helpers():
    assert harness.fmt(None) == "—" and harness.fmt(1234.56) == "1,234.6" and harness.fmt(3, ",d") == "3"
    assert harness.ratio(3.0, 2.0) == "1.50x"
    assert harness.ratio(None, 2.0) == harness.ratio(3.0, 0) == "—"


def test_markdown_table():
    table = harness.markdown_table(
        ["row", "F1", "n"], [["hf", "0.8000", 3], ["rawtune", "failed", ""]], "lrr"
    )
    assert table == ("| row | F1 | n |\n|---|---:|---:|\n| hf | 0.8000 | 3 |\n| rawtune | failed | |")
    assert harness.markdown_table(["a", "b"], []) == "| a | b |\n|---|---|"


def test_cpu_flags_and_model_from_proc_cpuinfo():
    assert harness.cpu_flags(CPUINFO) == {"avx512_bf16": True, "amx_bf16": False, "avx512_vnni": True}
    assert harness.cpu_model(CPUINFO) == "Intel(R) Xeon(R) Platinum 8480+"
    assert harness.cpu_flags("") == dict.fromkeys(harness.CPU_FLAGS, False)
    assert harness.cpu_model("processor : 0\n") is None
    line = harness.machine_line(
        {"torch": "2", "transformers": "5", "rawtune": "0.1", "git": "abc", "torch_threads": 2, "cores": 4,
         "cpu": "X", "loadavg_start": [0.5], **harness.cpu_flags(CPUINFO)}
    )  # fmt: skip
    assert "avx512_bf16 yes, amx_bf16 no, avx512_vnni yes" in line


def test_seeds_and_choice_lists():
    assert harness.parse_seeds("1,2, 3") == [1, 2, 3]
    for bad in ("", "1,1", "a"):
        with pytest.raises((argparse.ArgumentTypeError, ValueError)):
            harness.parse_seeds(bad)
    p = argparse.ArgumentParser()
    harness.add_seeds(p, "0,1")
    harness.add_threads(p)
    harness.add_outputs(p)
    args = p.parse_args(["--json", "out.json"])
    assert (
        args.seeds == [0, 1] and args.threads is None and args.json == Path("out.json") and not args.keep_tmp
    )
    assert harness.parse_list(" hf, rawtune", ["hf", "rawtune", "tapt"], "--rows", p) == ["hf", "rawtune"]
    with pytest.raises(SystemExit):
        harness.parse_list("hf,nope", ["hf"], "--rows", p)


def test_payload_has_the_command_machine_and_rows(tmp_path):
    args = argparse.Namespace(data_dir=tmp_path, seeds=[1], _worker=None)
    out = tmp_path / "out.json"
    harness.write_payload(out, "python x.py", {"cpu": "X"}, args=harness.json_args(args), rows=[{"f1": 0.5}])
    assert json.loads(out.read_text()) == {
        "command": "python x.py",
        "machine": {"cpu": "X"},
        "args": {"data_dir": str(tmp_path), "seeds": [1]},
        "rows": [{"f1": 0.5}],
    }
    harness.write_payload(None, "python x.py", None, rows=[])  # no --json: nothing written


def test_run_logged_times_the_wall_clock_and_stops_at_the_timeout(tmp_path):
    rc, wall = harness.run_logged([sys.executable, "-c", "print('hello')"], tmp_path / "ok.log")
    assert rc == 0 and wall > 0
    assert (tmp_path / "ok.log").read_text().splitlines()[-1] == "hello"
    rc, wall = harness.run_logged(
        [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "slow.log", timeout=0.5
    )
    assert rc is None and 0.5 <= wall < 20  # the sleep is wall time, not CPU time
    rc, _ = harness.run_logged([sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "bad.log")
    assert rc == 3


def test_conll_round_trip_and_label_keeping_sample(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("-DOCSTART- -X- O\n\nEU NNP B-ORG\nrejects VBZ O\n\nPeter NNP B-PER\n", encoding="utf-8")
    sents = corpora.read_conll(src)
    assert corpora.words_and_tags(sents) == ([["EU", "rejects"], ["Peter"]], [["B-ORG", "O"], ["B-PER"]])
    corpora.write_conll(sents, tmp_path / "out.conll")
    assert corpora.read_conll(tmp_path / "out.conll") == sents
    assert corpora.write_raw_text(sents, tmp_path / "raw.txt") == 2
    assert (tmp_path / "raw.txt").read_text() == "EU rejects\nPeter\n"
    import random

    rows = [(f"t{i}", "a") for i in range(50)] + [("rare", "b")]
    sample = corpora.sample_keeping_labels(rows, 5, random.Random(0))
    assert len(sample) == 5 and ("rare", "b") in sample and sample == sorted(sample, key=rows.index)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_every_benchmark_script_answers_help_quickly(script):
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60, cwd=BENCH.parent
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
    assert time.perf_counter() - start < 10, "--help must not import torch or load data"
