"""What the benchmark scripts share: running a command or a worker in a subprocess with a timeout and
wall-clock timing, the machine a run was measured on, the common flags, summary statistics (mean ± std
over seeds, median and spread over repeats), interleaved scheduling of arms, markdown tables and the JSON
payload. A script imports it as `harness` (a script's own folder is first on sys.path).

Nothing heavy is imported at module level (torch only inside `machine_info`), so every script's
`--help` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO.parent / "shared" / "data"  # the shared data sets, next to the checkout
CPU_FLAGS = ("avx512_bf16", "amx_bf16", "avx512_vnni")


# --- processes -----------------------------------------------------------------------------------
def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def child_env(threads: int | None) -> dict:
    """The environment of every run: offline, quiet tokenizers, `threads` BLAS/OpenMP threads."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def run_logged(
    cmd: list[str], log_path: Path, threads: int | None = None, timeout: float | None = None
) -> tuple[int | None, float]:
    """Run a command with its output in log_path. Returns (exit code, or None on timeout; wall seconds)."""
    t0 = time.perf_counter()
    with log_path.open("w") as fh:
        fh.write(f"$ {shlex.join(cmd)}\n")
        fh.flush()
        try:
            proc = subprocess.run(
                cmd, stdout=fh, stderr=subprocess.STDOUT, env=child_env(threads), timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return None, time.perf_counter() - t0
    return proc.returncode, time.perf_counter() - t0


def run_checked(cmd: list[str], log_path: Path, threads: int | None = None) -> float:
    """`run_logged` for a run the benchmark cannot do without: its wall seconds, or exit with the log's end."""
    log(f"  $ {shlex.join(cmd)}")
    rc, wall = run_logged(cmd, log_path, threads)
    if rc != 0:
        raise SystemExit(f"failed (exit {rc}): {shlex.join(cmd)}\n{tail(log_path, 20)}")
    return wall


def spawn_worker(
    script: str, spec: dict, workdir: Path, name: str, threads: int | None, timeout: float
) -> tuple[dict | None, float]:
    """Run `python SCRIPT --_worker SPEC` in a fresh process. Returns (result or None, wall seconds)."""
    spec_path, log_path = workdir / f"{name}.spec.json", workdir / f"{name}.log"
    spec["result"] = str(workdir / f"{name}.result.json")
    spec_path.write_text(json.dumps(spec))
    rc, wall = run_logged([sys.executable, script, "--_worker", str(spec_path)], log_path, threads, timeout)
    if rc is None:
        log(f"  {name}: timed out after {timeout:.0f}s; log tail:\n{tail(log_path)}")
        return None, wall
    if rc != 0 or not Path(spec["result"]).exists():
        log(f"  {name}: FAILED (exit {rc}); log tail:\n{tail(log_path)}")
        return None, wall
    return json.loads(Path(spec["result"]).read_text()), wall


def worker_main(spec_path: str, workers: dict[str, Callable[[dict], Any]]) -> None:
    """The worker side of `spawn_worker`: the spec's `kind` picks the function, its result is written."""
    spec = json.loads(Path(spec_path).read_text())
    if spec.get("threads"):
        import torch

        torch.set_num_threads(int(spec["threads"]))
    Path(spec["result"]).write_text(json.dumps(workers[spec["kind"]](spec), indent=2))


@contextlib.contextmanager
def workdir(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A temp dir for data, logs and runs; removed at the end unless `keep`."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    log(f"work dir: {tmp}")
    try:
        yield tmp
    finally:
        if keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# --- the machine ---------------------------------------------------------------------------------
def cpu_model(cpuinfo: str) -> str | None:
    return next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")), None
    )


def cpu_flags(cpuinfo: str) -> dict[str, bool]:
    """Which of CPU_FLAGS the first CPU of a /proc/cpuinfo text has (bf16 and int8 units: they decide
    whether bf16 autocast and int8 kernels run natively or emulated)."""
    line = next((ln for ln in cpuinfo.splitlines() if ln.startswith("flags")), "")
    have = set(line.split(":", 1)[-1].split())
    return {flag: flag in have for flag in CPU_FLAGS}


def machine_info(threads: int | None = None) -> dict:
    """Versions, CPU and load of this machine; sets torch's threads to `threads` in this process."""
    import torch
    import transformers

    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    if threads:
        torch.set_num_threads(threads)
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    try:
        from importlib.metadata import version

        rawtune_version = version("rawtune")
    except Exception:
        rawtune_version = "?"
    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "rawtune": rawtune_version,
        "git": commit or "?",
        "python": platform.python_version(),
        "cpu": cpu_model(cpuinfo) or platform.processor() or "?",
        "cores": os.cpu_count(),
        **cpu_flags(cpuinfo),
        "torch_threads": torch.get_num_threads(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def machine_line(info: dict) -> str:
    flags = ", ".join(f"{f} {'yes' if info.get(f) else 'no'}" for f in CPU_FLAGS)
    return (
        f"machine: torch {info['torch']}, transformers {info['transformers']}, rawtune {info['rawtune']} "
        f"(git {info['git']}), {info['torch_threads']} threads, {info['cores']} cores, {info['cpu']} "
        f"({flags}), loadavg at start {info['loadavg_start']}"
    )


# --- command line --------------------------------------------------------------------------------
def new_parser(
    description: str, formatter: type = argparse.RawTextHelpFormatter, worker: bool = False
) -> argparse.ArgumentParser:
    """The script's parser; `worker` adds the hidden --_worker SPEC flag of `spawn_worker`."""
    p = argparse.ArgumentParser(description=description, formatter_class=formatter)
    if worker:
        p.add_argument("--_worker", help=argparse.SUPPRESS)
    return p


def parse(
    p: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    workers: dict[str, Callable[[dict], Any]] | None = None,
) -> argparse.Namespace:
    """The parsed flags; with --_worker SPEC the worker runs here and the process exits."""
    args = p.parse_args(argv)
    if workers and getattr(args, "_worker", None):
        worker_main(args._worker, workers)
        raise SystemExit(0)
    return args


def begin(
    script: str, argv: Sequence[str] | None, threads: int | None, show_machine: bool = False
) -> tuple[str, dict]:
    """Print the command line first ("$ ..."), read the machine (and print it when the script's own
    header does not); returns (command line, machine info)."""
    command = command_line(script, argv)
    print(f"$ {command}", flush=True)
    info = machine_info(threads)
    if show_machine:
        print(machine_line(info), flush=True)
    return command, info


def command_line(script: str, argv: Sequence[str] | None = None) -> str:
    """How this run was started, to print first and keep in the JSON."""
    return shlex.join(["python", os.path.relpath(script), *(sys.argv[1:] if argv is None else argv)])


def parse_seeds(text: str) -> list[int]:
    seeds = [int(s) for s in text.split(",") if s.strip()]
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct integers like 1,2,3, got {text!r}")
    return seeds


def parse_list(text: str, choices: Iterable[str], flag: str, parser: argparse.ArgumentParser) -> list[str]:
    """A comma-separated choice of `choices`; a parser error naming `flag` otherwise."""
    allowed = list(choices)
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        parser.error(f"{flag}: unknown {bad}; choose from {','.join(allowed)}")
    return items


def add_data_dir(
    p: argparse.ArgumentParser, help: str, default: Path = DATA_DIR, flag: str = "--data-dir"
) -> None:
    p.add_argument(flag, type=Path, default=default, help=f"{help} (default: {default})")


def add_threads(p: argparse.ArgumentParser, default: int | None = None) -> None:
    p.add_argument(
        "--threads", type=int, default=default, help="torch threads / OMP_NUM_THREADS of every run"
    )


def add_seeds(p: argparse.ArgumentParser, default: str = "1") -> None:
    p.add_argument(
        "--seeds", type=parse_seeds, default=default, help=f"comma-separated seeds (default {default})"
    )


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")


def add_keep_tmp(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (data, logs, runs)")


def add_outputs(p: argparse.ArgumentParser) -> None:
    """--json and --keep-tmp."""
    add_json(p)
    add_keep_tmp(p)


def require(parser: argparse.ArgumentParser, root: Path, files: Iterable[str]) -> None:
    for f in files:
        if not (root / f).exists():
            parser.error(f"missing {root / f} (pass --data-dir)")


# --- statistics ----------------------------------------------------------------------------------
def fmt(x: Any, spec: str = ",.1f") -> str:
    return "—" if x is None else format(x, spec)


def ratio(x: float | None, base: float | None) -> str:
    """x / base as "1.23x" ("—" when either is missing or zero)."""
    return f"{x / base:.2f}x" if x and base else "—"


def mean_and_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def mean_std(values: Sequence[float], spec: str = ".4f", zero_std: bool = False) -> str:
    """ "mean ± std"; a single value alone, or with "± 0" when `zero_std`; "—" for none."""
    if not values:
        return "—"
    if len(values) == 1 and not zero_std:
        return format(values[0], spec)
    mean, std = mean_and_std(values)
    return f"{format(mean, spec)} ± {format(std, spec)}"


def per_seed(runs: list[dict], key: Callable[[dict], Any]) -> list[float]:
    """One value per seed (the mean over its repeats), for mean ± std over seeds."""
    by_seed: dict[int, list[float]] = {}
    for r in runs:
        v = key(r)
        if v is not None:
            by_seed.setdefault(r["seed"], []).append(float(v))
    return [statistics.fmean(v) for _, v in sorted(by_seed.items())]


def median(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def spread(values: Iterable[float | None]) -> tuple[float, float] | None:
    """(min, max) of the values that are there: how far repeats of one measurement lie apart."""
    vals = [v for v in values if v is not None]
    return (min(vals), max(vals)) if vals else None


def span(values: Iterable[float | None], spec: str = "") -> str:
    """The spread as "min–max" ("—" for none)."""
    s = spread(values)
    return "—" if s is None else f"{format(s[0], spec)}–{format(s[1], spec)}"


# --- scheduling ----------------------------------------------------------------------------------
def interleave(arms: Sequence[Any], repeats: int, mirror: bool = False) -> list[tuple[int, Any]]:
    """(repeat, arm) in run order: every arm once per round (A B A B ..., never A A B B), so a drift
    of the machine's load spreads over all arms. `mirror` reverses every other round (A B B A), which
    also evens out a steady drift within a round."""
    order = []
    for rep in range(repeats):
        arms_now = list(arms)[::-1] if mirror and rep % 2 else list(arms)
        order += [(rep, arm) for arm in arms_now]
    return order


def run_schedule(
    schedule: Iterable[tuple[int, Any]],
    run: Callable[[int, Any], dict | str | None],
    group: Callable[[Any], Any] = lambda a: a,
) -> tuple[dict[Any, list[dict]], dict[Any, str]]:
    """`run(repeat, arm)` in schedule order. A run returns its result, None when it failed on its own, or
    a string saying why the arm cannot go on: its group then counts as broken and its later runs are
    skipped. Returns ({group: results in run order}, {group: why it broke})."""
    results: dict[Any, list[dict]] = {}
    broken: dict[Any, str] = {}
    for rep, arm in schedule:
        key = group(arm)
        results.setdefault(key, [])
        if key in broken:
            continue
        res = run(rep, arm)
        if isinstance(res, str):
            broken[key] = res
        elif res is not None:
            results[key].append(res)
    return results, broken


# --- output --------------------------------------------------------------------------------------
def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> str:
    """A markdown table; `align` has one letter a column, "l" or "r" (default: all left)."""
    align = align or "l" * len(header)

    def line(cells: Sequence[Any]) -> str:
        return "|" + "|".join(f" {c} " if str(c) else " " for c in cells) + "|"

    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def json_args(args: argparse.Namespace, drop: Iterable[str] = ("_worker",)) -> dict:
    """The parsed flags, JSON-safe (paths as strings), without internal ones."""
    skip = set(drop)
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in skip}


def write_payload(path: Path | str | None, command: str, machine: dict | None, **fields: Any) -> None:
    """The run's JSON record: the command line, the machine, then the script's own fields (rows, ...)."""
    if not path:
        return
    Path(path).write_text(json.dumps({"command": command, "machine": machine, **fields}, indent=2))
    log(f"wrote {path}")


def print_skipped(skipped: dict[str, str]) -> None:
    if skipped:
        print("\n" + "\n".join(f"skipped {k}: {v.splitlines()[0]}" for k, v in skipped.items()))
