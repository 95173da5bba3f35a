"""`rawtune run pipeline.yaml`: plan the stages (reuse, run, resume or re-run each), then run them in
order, each into OUTPUT/<stage>/, recording the pipeline's state in OUTPUT/pipeline.json.

A stage is reused when its fingerprint equals the one recorded for its completed run and no stage it
reads from runs again; changing one option therefore re-runs that stage and the stages downstream of
it, nothing else. A `prepare` stage's files each have their own fingerprint (`Kind.parts`): a stage
naming one of them depends on that file, not on its siblings. A stage that failed (or was killed)
with the same fingerprint is resumed from its last verified checkpoint. One `rawtune run` at a time
may use an output directory (a lock file).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rawtune._version import __version__
from rawtune.errors import ConfigError, ConfigIssue, GateError, RunDirError
from rawtune.modeling.backbone import default_model
from rawtune.pipeline import fingerprint as fpr
from rawtune.pipeline.kinds import KINDS, complete_config, execute, missing_inputs, validate
from rawtune.pipeline.spec import (
    BASE,
    REF,
    PipelineSpec,
    StageSpec,
    read_pipeline,
    reference_keys,
    references,
    stage_line,
)
from rawtune.runs.atomic import write_json
from rawtune.runs.rundir import COMPLETE, RunDir

log = logging.getLogger("rawtune")
STATE = "pipeline.json"
HASHES = ".file-hashes.json"  # sha256 of input files by (path, size, mtime): see fingerprint.hash_file


@dataclass
class Step:
    index: int
    stage: StageSpec
    fingerprint: str
    inputs: dict[str, Any]
    action: str  # skip | run | rerun | resume | rejected | serve
    reasons: list[str] = field(default_factory=list)

    @property
    def executes(self) -> bool:
        return self.action in ("run", "rerun", "resume")


def read_state(root: Path) -> dict[str, Any]:
    import json

    try:
        return json.loads((root / STATE).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _interpolate(value: Any, lookup) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, lookup) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, lookup) for v in value]
    if isinstance(value, str):
        return REF.sub(lambda m: lookup(m.group(1), m.group(2)), value)
    return value


class Pipeline:
    def __init__(self, spec: PipelineSpec, file: str = "pipeline.yaml", marks: dict | None = None):
        self.spec, self.file, self.marks = spec, file, marks or {}
        self.root = Path(spec.output)
        self._base: str | None = None

    @classmethod
    def load(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> Pipeline:
        spec, marks = read_pipeline(path, overrides)
        return cls(spec, str(path), marks)

    def base_model(self) -> str:
        if self._base is None:
            self._base = self.spec.model or default_model()
        return self._base

    def run_dir(self, name: str) -> Path:
        return self.root / name

    # -- planning ---------------------------------------------------------------------------------
    def _config(self, st: StageSpec, index: int, source, ref) -> dict[str, Any]:
        """The stage's validated config with the pipeline's parts filled in; `source(name)` gives
        the model a `from` stage provides, `ref(name, key)` the value of ${name.key}."""
        sources = {s: (self.base_model() if s == BASE else source(s)) for s in st.sources}
        cfg = complete_config(
            st.kind,
            _interpolate(st.config, ref),
            output=str(self.run_dir(st.name)),
            sources=sources,
            model=self.spec.model,
            seed=self.spec.seed,
        )
        try:
            return validate(st.kind, cfg)
        except ConfigError as e:
            raise ConfigError(
                [
                    ConfigIssue(
                        f"{st.name}.{i.key}",
                        i.message,
                        self.file,
                        stage_line(self.marks, index, i.key),
                        i.hint,
                    )
                    for i in e.issues
                ]
            ) from None

    def plan(self) -> list[Step]:
        prev = {s["name"]: s for s in read_state(self.root).get("stages", [])}
        fps: dict[str, str] = {}
        parts: dict[str, dict[str, str]] = {}  # stage: {output key: its own fingerprint} (Kind.parts)
        executing: set[str] = set()
        cache = self._hash_cache()
        known = len(cache)
        steps = []
        missing: list[ConfigIssue] = []
        for i, st in enumerate(self.spec.stages):
            cfg = self._config(
                st,
                i,
                source=lambda s: f"@{s}:{fps[s]}",
                ref=lambda s, key: (
                    f"@{s}:{parts[s][key]}/{key}"
                    if key in parts.get(s, {})
                    else f"@{s}:{fps[s]}" + (f"/{key}" if key else "")
                ),
            )
            missing += [
                ConfigIssue(
                    f"{st.name}.{key}",
                    f"no such file or directory: {path}",
                    self.file,
                    stage_line(self.marks, i, key),
                )
                for key, path in missing_inputs(st.kind, cfg)
            ]
            flat = {k: v for k, v in fpr.flatten(cfg).items() if k not in fpr.FREE}
            files = fpr.input_files(flat, cache)
            inputs = {"config": flat, "files": files, "rawtune": __version__}
            fp = fpr.fingerprint(st.kind, flat, files)
            fps[st.name] = fp
            kind = KINDS.get(st.kind)
            parts[st.name] = kind.parts(cfg, files) if kind.parts else {}
            # the stages whose re-running re-runs this one: its `from` stages and those it names an
            # output of that has no fingerprint of its own (one that has is in this one's fingerprint)
            reads = set(st.sources) | {
                s for s, key in reference_keys(st.config) if key not in parts.get(s, {})
            }
            step = self._decide(Step(i, st, fp, inputs, "run"), prev.get(st.name), reads & executing)
            if step.executes:
                executing.add(st.name)
            steps.append(step)
        if missing:
            raise ConfigError(missing)
        if len(cache) != known and self.root.is_dir():
            write_json(self.root / HASHES, cache)
        return steps

    def _hash_cache(self) -> dict[str, str]:
        import json

        try:
            cache = json.loads((self.root / HASHES).read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return cache if isinstance(cache, dict) else {}

    def _decide(self, step: Step, prev: dict[str, Any] | None, upstream: set[str]) -> Step:
        st = step.stage
        kind = KINDS.get(st.kind)
        if kind.serves:
            step.action = "serve"
            return step
        run = RunDir(self.run_dir(st.name))
        status = run.status if RunDir.is_run(run.path) else None
        # The run's own manifest says which fingerprint it was made with; pipeline.json's entry counts
        # only for a stage that was started (killed before its manifest got the fingerprint). An entry
        # still "pending" was planned by an interrupted run and says nothing about the directory.
        started = prev if prev and prev.get("status") in ("running", COMPLETE, "failed") else {}
        stored = (run.manifest().get("pipeline") or {}).get("fingerprint") or started.get("fingerprint")
        same = stored == step.fingerprint
        if upstream:
            step.action = "rerun" if run.path.exists() else "run"
            step.reasons = [f"upstream '{u}' runs" for u in sorted(upstream)]
        elif same and status == COMPLETE:
            step.action, step.reasons = "skip", ["complete"]
        elif same and status == "rejected":
            step.action, step.reasons = "rejected", [run.manifest().get("error", "rejected by the gate")]
        elif same and status is not None and kind.resumable and kind.resumable(run):
            step.action, step.reasons = "resume", [f"{status} last time: resume from its last checkpoint"]
        elif run.path.exists():
            step.action = "rerun"
            if not same and prev and prev.get("inputs"):
                step.reasons = fpr.describe_changes(prev["inputs"], step.inputs) or ["fingerprint changed"]
            else:
                step.reasons = [
                    f"{status or 'incomplete'} last time" + ("" if same else ", unknown fingerprint")
                ]
        else:
            step.action, step.reasons = "run", ["new"]
        return step

    # -- running ----------------------------------------------------------------------------------
    def run(self, *, serve: bool = True, progress: bool = True) -> dict[str, Any]:
        steps = self.plan()  # every stage's config validated before anything runs
        self.root.mkdir(parents=True, exist_ok=True)
        with _lock(self.root):
            steps = self.plan()  # again under the lock: another run may have finished meanwhile
            state = self._initial_state(steps)
            outputs: dict[str, dict[str, str]] = {
                s["name"]: s.get("outputs") or {} for s in read_state(self.root).get("stages", [])
            }
            for step in steps:
                entry = state["stages"][step.index]
                if step.action in ("skip", "serve"):
                    continue
                if step.action == "rejected":
                    self._save(state, status="failed")
                    raise GateError(f"stage '{step.stage.name}' was rejected: {step.reasons[0]}")
                outputs[step.stage.name] = self._execute(step, entry, state, outputs, progress)
            self._save(state, status=COMPLETE)
            self._write_report()
        self._log_summary(steps)
        served = [s for s in steps if s.action == "serve"]
        if serve and served:
            self._serve(served[-1])
        return state

    def _initial_state(self, steps: list[Step]) -> dict[str, Any]:
        before = {s["name"]: s for s in read_state(self.root).get("stages", [])}
        stages = []
        for step in steps:
            st = step.stage
            entry = {
                "name": st.name,
                "kind": st.kind,
                "run": st.name,
                "parent": st.from_ if not isinstance(st.from_, list) else (st.from_ or [None])[0],
                "sources": st.sources,
                "uses": sorted(references(st.config)),
                "fingerprint": step.fingerprint,
                "inputs": step.inputs,
                "action": step.action,
                "reasons": step.reasons,
                "status": "skipped" if step.action == "skip" else "pending",
                "skipped": step.action == "skip",
                "seconds": (before.get(st.name) or {}).get("seconds") if step.action == "skip" else None,
                "outputs": (before.get(st.name) or {}).get("outputs") if step.action == "skip" else None,
            }
            stages.append(entry)
        return {
            "name": self.spec.name,
            "file": self.file,
            "status": "running",
            "started": time.time(),
            "stages": stages,
        }

    def _save(self, state: dict[str, Any], **fields: Any) -> None:
        state.update(fields)
        if fields.get("status") in (COMPLETE, "failed"):
            state["finished"] = time.time()
        write_json(self.root / STATE, state)

    def _actual(self, name: str, key: str | None, outputs: dict[str, dict[str, str]]) -> str:
        if key is None:
            return str(self.run_dir(name))
        got = outputs.get(name) or RunDir(self.run_dir(name)).manifest().get("outputs") or {}
        if key not in got:
            raise ConfigError(
                [
                    ConfigIssue(
                        f"${{{name}.{key}}}",
                        f"stage '{name}' produced no '{key}'; it has: {', '.join(got) or 'nothing'}",
                        self.file,
                    )
                ]
            )
        return got[key]

    def _model_of(self, name: str) -> str:
        """What a downstream stage loads from stage `name`: its run directory (an export stage's
        model is the exported directory inside it, a selftrain stage's its best round's run)."""
        model = KINDS.get(self.spec.stage(name).kind).model
        return model(self.run_dir(name)) if callable(model) else str(self.run_dir(name) / model)

    def _execute(
        self, step: Step, entry: dict[str, Any], state: dict[str, Any], outputs, progress: bool
    ) -> dict[str, str]:
        st = step.stage
        cfg = self._config(
            st, step.index, source=self._model_of, ref=lambda s, k: self._actual(s, k, outputs)
        )
        path = self.run_dir(st.name)
        if step.action != "resume" and path.exists():
            log.info("removing %s (%s)", path, "; ".join(step.reasons))
            shutil.rmtree(path)
        log.info(
            "== stage %d/%d %s (%s): %s", step.index + 1, len(self.spec.stages), st.name, st.kind, step.action
        )
        entry["status"] = "running"
        self._save(state)
        start = time.time()
        try:
            produced = execute(st.kind, cfg, resume=step.action == "resume", progress=progress)
        except BaseException as e:
            entry.update(
                status="failed", error=str(e) or type(e).__name__, seconds=round(time.time() - start, 2)
            )
            self._save(state, status="failed")
            raise
        entry.update(status=COMPLETE, seconds=round(time.time() - start, 2), outputs=produced)
        RunDir(path).update_manifest(
            pipeline={
                "name": self.spec.name,
                "stage": st.name,
                "fingerprint": step.fingerprint,
                "sources": st.sources,
                "uses": sorted(references(st.config)),
            }
        )
        self._save(state)
        return produced

    def _write_report(self) -> None:
        try:
            from rawtune.reporting import write_pipeline_report
        except ImportError:
            return
        try:
            path = write_pipeline_report(self.root)
            if path:
                log.info("report: %s", path)
        except Exception as e:  # a report problem never fails a finished pipeline
            log.warning("could not write the pipeline report: %s", e)

    def _log_summary(self, steps: list[Step]) -> None:
        for step in steps:
            log.info(
                "%-16s %-14s %s",
                step.stage.name,
                step.stage.kind,
                "skipped (complete)" if step.action == "skip" else step.action,
            )

    def _serve(self, step: Step) -> None:
        cfg = self._config(
            step.stage, step.index, source=self._model_of, ref=lambda s, k: self._actual(s, k, {})
        )
        execute(step.stage.kind, cfg, resume=False, progress=False)


@contextlib.contextmanager
def _lock(root: Path):
    with open(root / ".pipeline.lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirError(f"{root}: another `rawtune run` is using this pipeline directory") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def format_plan(pipe: Pipeline, steps: list[Step]) -> str:
    width = max(len(s.stage.name) for s in steps)
    lines = [f"pipeline {pipe.spec.name}: {len(steps)} stages in {pipe.root}"]
    for s in steps:
        why = "; ".join(s.reasons)
        lines.append(f"  {s.index + 1:>2}. {s.stage.name:<{width}}  {s.stage.kind:<14} {s.action:<8} {why}")
    return "\n".join(lines)
