"""What a study leaves in its directory, rewritten after every trial: trials.csv (one row a trial),
best.yaml (the best trial's fine-tuning config: `rawtune finetune --config best.yaml --output DIR`
trains it again), metrics.json, and report.md with the optimisation history and parameter
importances (PNG plots when matplotlib is installed)."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

from rawtune.runs.atomic import write_json, write_text

log = logging.getLogger("rawtune")


def _rows(study: Any) -> list[dict[str, Any]]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name.lower(),
                "value": t.value,
                "last_step": max(t.intermediate_values) if t.intermediate_values else None,
                "seconds": t.user_attrs.get("seconds"),
                "run": t.user_attrs.get("run"),
                "baseline": bool(t.user_attrs.get("baseline")),
                **{f"param.{k}": v for k, v in t.params.items()},
            }
        )
    return rows


def _csv(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _importances(study: Any) -> dict[str, float]:
    """fANOVA importances of the parameters over the complete trials (empty when too few trials
    or no parameter varied)."""
    import optuna

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 2:
        return {}
    try:
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (RuntimeError, ValueError) as e:  # e.g. every complete trial has the same values
        log.info("parameter importances not computed: %s", e)
        return {}


def write_results(cfg: Any, study: Any, key: str, direction: str, root: Path) -> dict[str, Any]:
    from rawtune.config.loader import dump_config, load_config

    rows = _rows(study)
    write_text(root / "trials.csv", _csv(rows))
    states = [r["state"] for r in rows]
    summary: dict[str, Any] = {
        "stage": "hpo",
        "metric": key,
        "direction": direction,
        "trials": {s: states.count(s) for s in ("complete", "pruned", "fail", "running")},
    }
    complete = [r for r in rows if r["state"] == "complete"]
    if complete:
        best = study.best_trial
        summary["best"] = {
            "trial": best.number,
            "value": best.value,
            "params": best.params,
            "run": best.user_attrs.get("run"),
        }
        params = {**best.params, "output": None}
        ft = load_config("finetune", base=cfg.finetune.model_dump(), overrides=params, require=False)
        write_text(root / "best.yaml", dump_config(ft))
    base = [r for r in rows if r["baseline"] and r["state"] == "complete"]
    if base and complete:
        summary["baseline"] = {"trial": base[0]["trial"], "value": base[0]["value"]}
        summary["gain_over_baseline"] = summary["best"]["value"] - base[0]["value"]
    pruned = [r for r in rows if r["state"] == "pruned"]
    summary["seconds"] = {
        "complete": sum(r["seconds"] or 0.0 for r in complete),
        "pruned": sum(r["seconds"] or 0.0 for r in pruned),
    }
    summary["importances"] = _importances(study)
    write_json(root / "metrics.json", summary)
    plots = _plots(rows, summary, root, direction)
    write_text(root / "report.md", _report(rows, summary, plots))
    return summary


def _plots(rows: list[dict[str, Any]], summary: dict[str, Any], root: Path, direction: str) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out = []
    fig, ax = plt.subplots(figsize=(6, 3.5))
    done = [r for r in rows if r["value"] is not None]
    if done:
        best, line = None, []
        pick = max if direction == "maximize" else min
        for r in done:
            best = r["value"] if best is None else pick(best, r["value"])
            line.append(best)
        ax.plot([r["trial"] for r in done], [r["value"] for r in done], "o", label="trial")
        ax.step([r["trial"] for r in done], line, where="post", label="best so far")
    pruned = [r["trial"] for r in rows if r["state"] == "pruned"]
    for t in pruned:
        ax.axvline(t, color="0.85", zorder=0)
    ax.set_xlabel("trial (grey: pruned)")
    ax.set_ylabel(f"dev {summary['metric']}")
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(root / "history.png", dpi=100)
    out.append("history.png")
    plt.close(fig)
    imp = summary["importances"]
    if imp:
        fig, ax = plt.subplots(figsize=(6, 0.5 + 0.4 * len(imp)))
        names = list(imp)[::-1]
        ax.barh(names, [imp[n] for n in names])
        ax.set_xlabel("importance (fANOVA)")
        fig.tight_layout()
        fig.savefig(root / "importances.png", dpi=100)
        out.append("importances.png")
        plt.close(fig)
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def _report(rows: list[dict[str, Any]], summary: dict[str, Any], plots: list[str]) -> str:
    t = summary["trials"]
    lines = [
        f"# Hyperparameter search: dev {summary['metric']} ({summary['direction']})",
        "",
        f"{t['complete']} complete, {t['pruned']} pruned, {t['fail']} failed trials.",
        "",
    ]
    if "best" in summary:
        b = summary["best"]
        lines += [
            f"Best: trial {b['trial']}, {summary['metric']} {b['value']:.4f} ({b['run']}); config: best.yaml",
            "",
        ]
        lines += ["| parameter | value |", "|---|---|"] + [
            f"| {k} | {_fmt(v)} |" for k, v in b["params"].items()
        ]
        lines.append("")
    params = sorted({k for r in rows for k in r if k.startswith("param.")})
    lines += ["| trial | state | value | last step | seconds | " + " | ".join(p[6:] for p in params) + " |"]
    lines += ["|" + "---|" * (5 + len(params))]
    for r in rows:
        cells = [
            r["trial"],
            r["state"],
            r["value"],
            r["last_step"],
            r["seconds"],
            *(r.get(p) for p in params),
        ]
        lines.append("| " + " | ".join(_fmt(c) for c in cells) + " |")
    lines.append("")
    if summary["importances"]:
        lines += ["| parameter | importance |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in summary["importances"].items()] + [""]
    lines += [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"
