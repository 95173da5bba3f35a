"""`rawtune doctor RUN [RUN ...]`: verify run directories (files, config, data, weights, checkpoints)."""

from __future__ import annotations

import argparse

from rawtune.cli.overrides import set_handler

PROBLEMS_FOUND = 1  # exit status when a run has a problem (like fsck: 0 healthy)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor",
        help="verify run directories: manifest hashes, completeness, config and data fingerprints, weights",
        description="Check that each run directory is what its manifest says it is. Exit 0 when every run is "
        "healthy (warnings allowed), 1 when any has a problem.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories to check")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    set_handler(p, handle)


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    import json

    from rawtune.stages.doctor import diagnose

    if extra:
        from rawtune.cli.overrides import UnknownFlags

        raise UnknownFlags("unrecognised arguments: " + " ".join(extra))
    results = [diagnose(r) for r in args.runs]
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=1))
    else:
        mark = {"ok": "ok     ", "warning": "warning", "problem": "PROBLEM"}
        for r in results:
            print(f"{r.run}: {'healthy' if r.healthy else 'PROBLEMS'}")
            for f in r.findings:
                print(f"  {mark[f.level]}  {f.check}: {f.message}")
    return 0 if all(r.healthy for r in results) else PROBLEMS_FOUND
