"""`choose`: compares the models of the stages it lists in `from` on the dev set and keeps the winner,
the model a later stage (or `serve`) starts from. The first stage listed is the baseline (plain
fine-tuning, in the `raw-text-pick` preset): another wins only by beating it by more than
`min_gain`, so a pipeline that tries what raw text can buy never hands back a model worse on dev
than the one it would have had without it. OUTPUT/<stage>/choice.json (and metrics.json) lists every
option with its dev score and gain over the baseline, the winner and why it won; the pipeline's
report shows it as "What each option bought"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field

from rawtune.config.base import PathStr
from rawtune.errors import ConfigError, ConfigIssue, DataError
from rawtune.pipeline.kinds import KINDS, Config, Kind, PlainConfig, plain

CHOICE = "choice.json"


class ChooseConfig(PlainConfig):
    output: PathStr
    candidates: dict[str, PathStr] = Field(
        default_factory=dict, description="Filled from `from`: stage name -> its model's run."
    )
    min_gain: float = Field(
        0.0,
        ge=0.0,
        description="An option other than the baseline (the first in `from`) wins only when its dev "
        "metric beats the baseline's by more than this, in the metric's own units (0.005: half a "
        "point of F1).",
    )


def _validate(cfg: Config) -> Config:
    out = plain(ChooseConfig, cfg)
    if not out["candidates"]:
        raise ConfigError(
            [ConfigIssue("from", "list the stages to compare, the baseline first (from: [plain, tapt, ...])")]
        )
    return out


def _candidates(cfg: Config, sources: dict[str, str], model: str | None) -> Config:
    return {**cfg, "candidates": dict(sources)}


def _scored(name: str, run: Path) -> dict[str, Any]:
    """A candidate's dev metrics and the metric that picked its model, from its metrics.json."""
    try:
        m = json.loads((run / "metrics.json").read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"option '{name}': no readable metrics.json ({e})", file=str(run)) from None
    chosen = m.get("selected_by") or {}
    if not m.get("dev") or not chosen.get("metric"):
        raise DataError(
            f"option '{name}' has no dev metrics to compare (a run without --dev?)", file=str(run)
        )
    return {
        "name": name,
        "run": str(run),
        "metric": chosen["metric"],
        "greater_is_better": bool(chosen.get("greater_is_better", True)),
        "dev": {k: v for k, v in m["dev"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
        "test": (m.get("test") or {}).get(chosen["metric"]),
    }


def choose(candidates: dict[str, str], min_gain: float = 0.0) -> dict[str, Any]:
    """The winner among the candidates' models by dev metric (the baseline, the first, on a tie or
    a gain of at most `min_gain`), with every option's score and gain and the reason in words."""
    rows = [_scored(name, Path(run)) for name, run in candidates.items()]
    metrics = {(r["metric"], r["greater_is_better"]) for r in rows}
    if len(metrics) > 1:
        named = ", ".join(f"{r['name']}: {r['metric']}" for r in rows)
        raise DataError(f"the options were selected by different metrics ({named}); they cannot be compared")
    metric, greater = metrics.pop()
    missing = [r["name"] for r in rows if metric not in r["dev"]]
    if missing:
        raise DataError(f"no dev {metric} for {', '.join(missing)}")
    sign = 1.0 if greater else -1.0
    base = rows[0]
    for r in rows:
        r["value"] = r["dev"][metric]
        r["gain"] = sign * (r["value"] - base["dev"][metric])  # > 0: better than the baseline
    best = max(rows, key=lambda r: r["gain"])  # the first of the best on a tie: the baseline wins those
    winner = best if best["gain"] > min_gain else base
    return {
        "metric": metric,
        "greater_is_better": greater,
        "split": "dev",
        "baseline": base["name"],
        "min_gain": min_gain,
        "options": rows,
        "winner": {"name": winner["name"], "run": winner["run"], metric: winner["value"]},
        "reason": _reason(metric, base, best, winner, min_gain),
    }


def _gain(r: dict[str, Any], base: dict[str, Any]) -> str:
    scale = all(0.0 <= x <= 1.0 for x in (r["value"], base["value"]))  # F1, accuracy: in points
    return f"{100 * r['gain']:+.2f} points" if scale else f"{r['gain']:+.4f}"


def _reason(metric: str, base: dict, best: dict, winner: dict, min_gain: float) -> str:
    b = f"{base['name']} (dev {metric} {base['value']:.4f})"
    if winner is not base:
        return f"{winner['name']} has the best dev {metric}, {winner['value']:.4f}: {_gain(winner, base)} over {b}"
    if best is base:
        return f"no option beat {b}; it is kept"
    return (
        f"the best option, {best['name']}, beat {b} by {_gain(best, base)}, not more than min_gain "
        f"{min_gain:g}; {base['name']} is kept"
    )


def _choose(cfg: Config, resume: bool, progress: bool) -> dict[str, str]:
    import logging

    from rawtune.pipeline.kinds import own_run
    from rawtune.runs.atomic import write_json

    result = choose(cfg["candidates"], cfg["min_gain"])  # every option read before the run exists
    run = own_run(cfg, "choose", result["winner"]["run"])
    write_json(run.path / CHOICE, result)
    logging.getLogger("rawtune").info("choose: %s", result["reason"])
    run.update_manifest(outputs={"model": result["winner"]["run"], "choice": str(run.path / CHOICE)})
    run.finish(result)
    return {"model": result["winner"]["run"], "choice": str(run.path / CHOICE)}


def winner(run: Path) -> str:
    """The winning option's run, what a stage built on a `choose` stage starts from."""
    return str(json.loads((run / CHOICE).read_text())["winner"]["run"])


KINDS.register("choose")(Kind(_validate, _choose, complete=_candidates, model=winner))
