#!/usr/bin/env python
"""The reliability figures: runs the tests/reliability suite (pytest, in a subprocess) with
RAWTUNE_RELIABILITY_OUT set, so that every case records what it measured (tests/reliability/conftest.py
`figures`), reads those records and pytest's JUnit XML, and writes `reliability-report.json` plus a
markdown table: kill/resume scenarios and % bit-exact, torn checkpoints created vs selected, corruptions
detected / injected, bad inputs by category (% rejected with an actionable error, silent acceptances,
crashes), malicious artifacts (refused, side effects), and the server (throughput and p99 at its
concurrency limit, 2x and 5x overload, 5xx count, /healthz p99 under a tokenizer-heavy attack).

Nothing is typed in: every number comes from this run's records. A case whose test failed still
counts (its record is written before its assertions); a test that died before recording shows up in
the pytest totals.

Usage:
    python benchmarks/reliability_report.py                      # the whole suite (~15 min on 2 cores)
    python benchmarks/reliability_report.py --fast               # without the slow kill/resume cases
    python benchmarks/reliability_report.py --json out.json --markdown out.md
    python benchmarks/reliability_report.py --from-dir DIR       # re-read figures.json + junit.xml
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from harness import REPO, begin, new_parser

ROOT = REPO


def run_suite(out: Path, fast: bool, extra: list[str]) -> tuple[list[str], float]:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        "tests/reliability",
    ]
    cmd += [f"--junitxml={out / 'junit.xml'}", *(["-m", "not slow"] if fast else []), *extra]
    env = {
        **os.environ,
        "RAWTUNE_RELIABILITY_OUT": str(out / "figures.json"),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        ),
        "HF_HUB_OFFLINE": "1",
    }
    t0 = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, env=env)
    print(f"pytest exited {done.returncode}", file=sys.stderr)
    return cmd, time.monotonic() - t0


def junit(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    suite = ET.parse(path).getroot()
    suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    failed = [
        f"{case.get('classname')}::{case.get('name')}"
        for case in suite.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    return {**counts, "passed": counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"],
            "seconds": round(float(suite.get("time", 0)), 1), "failed": failed}  # fmt: skip


def pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    by = collections.defaultdict(list)
    for r in records:
        by[r["kind"]].append(r)
    kills = [r for r in by["kill"] if "bit_exact" in r]
    refused = [r for r in by["kill"] if "refused" in r]
    torn_created = sum(r.get("torn_created", 0) for r in by["kill"]) + sum(r["created"] for r in by["torn"])
    torn_selected = sum(bool(r.get("torn_selected")) for r in by["kill"]) + sum(
        r["selected"] for r in by["torn"]
    )
    out: dict[str, Any] = {
        "kill_resume": {
            "scenarios": len(kills),
            "bit_exact": sum(r["bit_exact"] for r in kills),
            "bit_exact_pct": pct(sum(r["bit_exact"] for r in kills), len(kills)),
            "by_signal": dict(collections.Counter(r["signal"] for r in kills)),
            "resume_refused_before_first_checkpoint": f"{sum(r['refused'] for r in refused)}/{len(refused)}",
        },
        "torn_checkpoints": {"created": torn_created, "selected": torn_selected},
        "corruption": {
            "injected": len(by["corruption"]),
            "detected": sum(r["detected"] for r in by["corruption"]),
            "detected_pct": pct(sum(r["detected"] for r in by["corruption"]), len(by["corruption"])),
        },
    }
    cats: dict[str, dict[str, int]] = {}
    for r in by["bad_input"]:
        c = cats.setdefault(r["category"], collections.Counter())
        c["tried"] += 1
        c["rejected"] += bool(r["rejected"])
        c["actionable"] += bool(r["actionable"])
        c["silent"] += bool(r.get("silent"))
        c["crashes"] += bool(r["crash"])
        c["wrote_output"] += bool(r.get("written"))
    total = collections.Counter()
    for c in cats.values():
        total.update(c)
    out["bad_inputs"] = {
        "categories": {
            k: {**v, "actionable_pct": pct(v["actionable"], v["tried"])} for k, v in sorted(cats.items())
        },
        "total": {**total, "actionable_pct": pct(total["actionable"], total["tried"])},
    }
    arts = by["artifact"]
    out["malicious_artifacts"] = {
        "cases": len(arts),
        "handled_safely": sum(bool(r["safe"]) for r in arts),
        "side_effects": sum(bool(r["side_effect"]) for r in arts),
        "crashes": sum(bool(r["crash"]) for r in arts),
    }
    server = {r["phase"]: {k: v for k, v in r.items() if k not in ("kind", "phase")} for r in by["server"]}
    out["server"] = server
    out["server_5xx"] = sum(
        v.get("status_5xx", 0) + v.get("attack_status_5xx", 0) for v in server.values()
    ) + sum(1 for r in by["bad_input"] if r["category"].startswith("server") and r["crash"])
    return out


def markdown(s: dict[str, Any], meta: dict[str, Any]) -> str:
    k, t, c, b, a = (
        s["kill_resume"],
        s["torn_checkpoints"],
        s["corruption"],
        s["bad_inputs"],
        s["malicious_artifacts"],
    )
    signals = ", ".join(f"{n} {sig}" for sig, n in sorted(k["by_signal"].items()))
    lines = [
        "| Figure | Measured |",
        "|---|---|",
        f"| Kill/resume scenarios run ({signals}) | {k['scenarios']} |",
        f"| Resumed bit-exact (metrics.jsonl + final weights) | {k['bit_exact']}/{k['scenarios']} ({k['bit_exact_pct']} %) |",
        f"| Kills before the first checkpoint: --resume refused (exit 2) | {k['resume_refused_before_first_checkpoint']} |",
        f"| Torn checkpoints created / selected on resume | {t['created']} / {t['selected']} |",
        f"| Corruptions detected / injected | {c['detected']}/{c['injected']} ({c['detected_pct']} %) |",
        f"| Malicious artifacts handled safely / tried (refused with one error line, or an auto_map ignored); payload side effects; crashes | {a['handled_safely']}/{a['cases']}; {a['side_effects']}; {a['crashes']} |",
        "",
        "| Bad inputs | Tried | Rejected | Actionable error | Silent acceptances | Crashes | Output written |",
        "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name, v in [*b["categories"].items(), ("**all**", b["total"])]:
        lines.append(
            f"| {name} | {v['tried']} | {v['rejected']} | {v['actionable']} ({v['actionable_pct']} %) | "
            f"{v['silent']} | {v['crashes']} | {v['wrote_output']} |"
        )
    srv = s["server"]
    lines += ["", "| Server (tiny NER run, uvicorn on loopback) | Clients | OK req/s | p50 ms | p99 ms | 429 | 5xx |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for phase in ("1x", "2x", "5x"):
        v = srv.get(phase)
        if v:
            lines.append(
                f"| {phase} the concurrency limit ({v['limit']}) | {v['clients']} | {v['throughput_rps']} | "
                f"{v['p50_ms']} | {v['p99_ms']} | {v['rejected_429']} | {v['status_5xx']} |"
            )
    h = srv.get("healthz under attack")
    if h:
        lines.append(
            f"| tokenizer-heavy attack (16 x 2000-char texts per request) | {h['attack_clients']} | "
            f"{h['attack_throughput_rps']} | {h['attack_p50_ms']} | {h['attack_p99_ms']} | "
            f"{h['attack_rejected_429']} | {h['attack_status_5xx']} |"
        )
        lines.append(
            f"\n/healthz during the attack: p99 {h['healthz_p99_ms']} ms, max {h['healthz_max_ms']} ms over "
            f"{h['healthz_probes']} probes, {h['healthz_errors']} errors."
        )
    other = [
        f"{p}: {'recovered' if v.get('recovered') else v}"
        for p, v in srv.items()
        if p.startswith("disconnect")
    ]
    slow = srv.get("slow body (slowloris)")
    if slow:
        other.append(f"slow body: {slow['status']}")
    if other:
        lines.append(
            "Disconnects and slow clients: "
            + "; ".join(other)
            + f". 5xx responses in all: {s['server_5xx']}."
        )
    j = meta.get("pytest") or {}
    if j:
        lines.append(
            f"\npytest: {j['passed']} passed, {j['failures'] + j['errors']} failed, {j['skipped']} skipped "
            f"in {j['seconds']} s."
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = new_parser(__doc__.splitlines()[0], argparse.HelpFormatter)
    ap.add_argument("--fast", action="store_true", help="skip the slow kill/resume cases (-m 'not slow')")
    ap.add_argument("--json", default="reliability-report.json", help="where the report goes")
    ap.add_argument("--markdown", default=None, help="also write the markdown table here")
    ap.add_argument("--from-dir", default=None, help="read figures.json and junit.xml from DIR; run nothing")
    ap.add_argument("--keep-dir", default=None, help="run the suite with its records in DIR (kept)")
    ap.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = ap.parse_args(argv)
    command, machine = begin(__file__, argv, None, show_machine=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    if args.from_dir:
        out, cmd, seconds = Path(args.from_dir), None, None
    else:
        out = Path(args.keep_dir or tempfile.mkdtemp(prefix="rawtune-reliability-"))
        out.mkdir(parents=True, exist_ok=True)
        cmd, seconds = run_suite(out, args.fast, args.pytest_args)
    records = json.loads((out / "figures.json").read_text()) if (out / "figures.json").is_file() else []
    meta = {
        "date": started.isoformat(timespec="seconds"),
        "command": command,
        "pytest_command": shlex.join(cmd) if cmd else None,
        "wall_s": round(seconds, 1) if seconds else None,
        "cpus": os.cpu_count(),
        "machine": machine,
        "pytest": junit(out / "junit.xml"),
        "records": len(records),
    }
    summary = summarize(records)
    report = {"meta": meta, **summary, "records": records}
    Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    table = markdown(summary, meta)
    if args.markdown:
        Path(args.markdown).write_text(table)
    print(table)
    print(f"wrote {args.json}", file=sys.stderr)
    return 0 if not meta["pytest"].get("failed") else 1


if __name__ == "__main__":
    sys.exit(main())
