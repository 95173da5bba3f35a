"""`rawtune models list|show|register|promote|rollback|history`: the model store (rawtune.versions).
A thin skin: reading a run's metrics and manifest into a version is the only logic here; every rule
(numbering, one production version, gates, rollback) lives in the store."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rawtune.versions import Event, ModelStore, Version

REGISTRY_HELP = "registry file (default: $RAWTUNE_REGISTRY, else ~/.local/share/rawtune/registry.db)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="model versions: register runs under a name, promote to production, roll back",
        description="A store of named models in one SQLite file (the registry file): each version is a run directory. "
        "register adds a candidate; promote makes one production (refused when its gate failed, unless "
        "--force) and archives the previous one; rollback restores the version it replaced. Serve or "
        "predict a version as models:/NAME (production), models:/NAME/N or models:/NAME/latest.",
    )
    p.add_argument("--registry", metavar="PATH", default=None, help=REGISTRY_HELP)
    common = argparse.ArgumentParser(add_help=False)
    # also accepted after the action; SUPPRESS keeps an absent one from hiding `models --registry`
    common.add_argument("--registry", metavar="PATH", default=argparse.SUPPRESS, help=REGISTRY_HELP)
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    actions = p.add_subparsers(dest="models_action", metavar="ACTION")

    a = actions.add_parser("list", parents=[common], help="versions of one model, or of all")
    a.add_argument("name", nargs="?", metavar="NAME", help="the model (default: every model)")
    a = actions.add_parser("show", parents=[common], help="one version in full (default: the latest)")
    a.add_argument("name", metavar="NAME", help="the model's name in the registry")
    a.add_argument("--version", type=int, metavar="N", help="default: the latest")
    a = actions.add_parser(
        "register",
        parents=[common],
        help="add RUN as NAME's next version (a candidate)",
        description="Task, dev metrics and a forgetting/gate block come from RUN/metrics.json; data "
        "fingerprints from RUN/manifest.json. A running or failed run is refused.",
    )
    a.add_argument("name", metavar="NAME", help="the model's name in the registry")
    a.add_argument("run", metavar="RUN", help="the run directory")
    a.add_argument("--parent", type=int, metavar="N", help="the version RUN was trained from")
    a.add_argument("--note", metavar="TEXT", help="a note kept with the version")
    a = actions.add_parser("promote", parents=[common], help="make a version production")
    a.add_argument("name", metavar="NAME", help="the model's name in the registry")
    a.add_argument("--version", type=int, metavar="N", help="default: the latest candidate")
    a.add_argument("--force", action="store_true", help="promote even though its gate failed")
    a = actions.add_parser("rollback", parents=[common], help="restore the previous production version")
    a.add_argument("name", metavar="NAME", help="the model's name in the registry")
    a = actions.add_parser("history", parents=[common], help="registrations, promotions and rollbacks")
    a.add_argument("name", metavar="NAME", help="the model's name in the registry")
    p.set_defaults(handler=handle, known_flags=["--registry", "--json"], models_parser=p)


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    from rawtune.cli.overrides import UnknownFlags
    from rawtune.versions import ModelStore

    if extra:
        raise UnknownFlags(f"unknown arguments: {' '.join(extra)}")
    if not args.models_action:
        args.models_parser.print_help()
        return 2
    with ModelStore(args.registry) as reg:
        return ACTIONS[args.models_action](reg, args)


def _list(reg: ModelStore, args: argparse.Namespace) -> int:
    versions = reg.list(args.name)
    if args.json:
        return _json([v.to_dict() for v in versions])
    if not versions:
        print(f"no models in {reg.path}")
        return 0
    head = ["NAME", "VERSION", "STATUS", "TASK", "CREATED", "METRICS", "GATE", "RUN"]
    _table(head, [_row(v) for v in versions])
    return 0


def _show(reg: ModelStore, args: argparse.Namespace) -> int:
    v = reg.get(args.name, args.version)
    if args.json:
        return _json(v.to_dict())
    width = max(map(len, v.to_dict()))
    for key, value in v.to_dict().items():
        text = _compact(value) if isinstance(value, dict) else "-" if value is None else value
        print(f"{key:<{width}}  {text}")
    return 0


def _register(reg: ModelStore, args: argparse.Namespace) -> int:
    task, metrics, gate, data = run_record(Path(args.run))
    v = reg.register(
        args.name,
        args.run,
        parent=args.parent,
        task=task,
        metrics=metrics,
        data=data,
        gate=gate,
        note=args.note,
    )
    return _json(v.to_dict()) if args.json else _say(f"registered {v.name} version {v.version} ({v.run})")


def _promote(reg: ModelStore, args: argparse.Namespace) -> int:
    before = reg.production(args.name)
    v = reg.promote(args.name, args.version, force=args.force)
    if args.json:
        return _json(v.to_dict())
    archived = f"; version {before.version} archived" if before else ""
    return _say(f"{v.name} version {v.version} is production{archived}")


def _rollback(reg: ModelStore, args: argparse.Namespace) -> int:
    before = reg.production(args.name)
    v = reg.rollback(args.name)
    if args.json:
        return _json(v.to_dict())
    archived = f"; version {before.version} archived" if before else ""
    return _say(f"{v.name} version {v.version} is production again{archived}")


def _history(reg: ModelStore, args: argparse.Namespace) -> int:
    events = reg.history(args.name)
    if args.json:
        return _json([e.to_dict() for e in events])
    _table(
        ["AT", "VERSION", "ACTION", "DETAIL"], [[e.at, str(e.version), e.action, _detail(e)] for e in events]
    )
    return 0


ACTIONS = {
    "list": _list,
    "show": _show,
    "register": _register,
    "promote": _promote,
    "rollback": _rollback,
    "history": _history,
}


def run_record(run: Path) -> tuple[str | None, dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
    """(task, metrics, gate, data fingerprints) of a run directory; files it lacks give nothing, so
    any directory can be registered, but a run that is still running or failed is refused."""
    from rawtune.errors import ModelStoreError

    manifest, summary = _read_json(run / "manifest.json"), _read_json(run / "metrics.json")
    status = manifest.get("status")
    if status in ("running", "failed"):
        raise ModelStoreError(
            f"{run} is not a finished run (manifest status '{status}'); register it once it is"
        )
    metrics = {k: summary[k] for k in ("dev", "forgetting") if isinstance(summary.get(k), dict)}
    gate = summary.get("gate") or metrics.get("forgetting", {}).get("gate")
    fingerprints = manifest.get("fingerprints")
    task = summary.get("task") or manifest.get("task")
    return (
        task if isinstance(task, str) else None,
        metrics,
        gate if isinstance(gate, dict) else None,
        fingerprints if isinstance(fingerprints, dict) else {},
    )


def _read_json(path: Path) -> dict[str, Any]:
    import json

    from rawtune.errors import DataError

    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read it as JSON: {e}", file=str(path)) from None
    return value if isinstance(value, dict) else {}


# --- output ---------------------------------------------------------------------------------------


def _row(v: Version) -> list[str]:
    scores = v.metrics.get("dev", v.metrics)
    shown = [f"{k}={x:.4g}" for k, x in scores.items() if isinstance(x, (int, float))][:3]
    gate = "-" if not v.gate else "failed" if v.gate_failed else "passed"
    return [
        v.name,
        str(v.version),
        v.status,
        v.task or "-",
        v.created[:16],
        " ".join(shown) or "-",
        gate,
        v.run,
    ]


def _detail(e: Event) -> str:
    d = e.detail
    if e.action == "register":
        return d.get("run", "") + (f" (parent {d['parent']})" if d.get("parent") else "")
    if e.action == "promote":
        text = f"replaced version {d['previous']}" if d.get("previous") else "first production version"
        return text + (" (forced past a failed gate)" if d.get("forced") else "")
    return f"rolled back from version {d.get('from')}"


def _table(head: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def _compact(value: dict[str, Any]) -> str:
    import json

    return json.dumps(value, sort_keys=True) if value else "-"


def _json(value: Any) -> int:
    import json

    print(json.dumps(value, indent=2))
    return 0


def _say(text: str) -> int:
    print(text)
    return 0
