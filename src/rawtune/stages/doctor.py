"""`rawtune doctor RUN`: verify a run directory without trusting it (`runs.doctor`: the manifest, its
files, the weights, the checkpoints), and the checks that need a stage's schema and inputs:

- the config: config.yaml still validates against its stage's schema, and still has the fingerprint
  the run recorded (an edit after the run shows);
- the data: each input file named by the config still exists and, for fine-tuning and pretraining,
  still has the content fingerprint the run recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rawtune.errors import RawtuneError
from rawtune.runs import doctor
from rawtune.runs.rundir import RunDir


def diagnose(path: str | Path) -> doctor.Diagnosis:
    """Every finding on the run at `path`, in the order `rawtune doctor` prints them."""
    return doctor.diagnose(path, inputs=_inputs)


def _inputs(d: doctor.Diagnosis, run: RunDir, manifest: dict[str, Any]) -> None:
    cfg = _config(d, run, manifest)
    if cfg is not None:
        try:
            _data(d, run, manifest, cfg)
        except RawtuneError as e:  # a damaged tokenizer or unreadable data: a finding, not a crash
            d.add("data", "warning", f"the input data cannot be re-checked: {e}")


def _config(d: doctor.Diagnosis, run: RunDir, manifest: dict[str, Any]) -> Any:
    import yaml

    from rawtune.config.base import STAGES
    from rawtune.config.identity import config_fingerprint
    from rawtune.config.loader import load_config
    from rawtune.errors import ConfigError

    if not run.config_path.is_file():
        return None  # reported with the run
    try:
        loaded = yaml.safe_load(run.config_path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise yaml.YAMLError("not a mapping of sections")
        stage = loaded.get("stage")
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        d.add("config", "problem", f"{run.config_path} is not valid YAML ({e})")
        return None
    if stage not in STAGES:
        d.add("config", "warning", f"stage {stage!r} has no schema to check config.yaml against")
        return None
    try:
        cfg = load_config(stage, file=run.config_path)
    except ConfigError as e:
        d.add("config", "problem", str(e))
        return None
    recorded = (manifest.get("fingerprints") or {}).get("config")
    if recorded is None:
        d.add("config", "ok", "config.yaml validates (no fingerprint recorded to compare)")
    elif config_fingerprint(cfg) != recorded:
        d.add(
            "config",
            "problem",
            "config.yaml differs from the config the run was trained with (edited after?)",
        )
    else:
        d.add("config", "ok", "config.yaml validates and has the recorded fingerprint")
    return cfg


def _data(d: doctor.Diagnosis, run: RunDir, manifest: dict[str, Any], cfg: Any) -> None:
    recorded = (manifest.get("fingerprints") or {}).get("data")
    stage = getattr(cfg, "stage", None)
    if stage == "finetune":
        missing = [p for p in (cfg.data.train, cfg.data.dev, cfg.data.test) if p and not Path(p).is_file()]
        if missing:
            d.add(
                "data",
                "warning",
                f"input files gone: {', '.join(missing)} (the run cannot be re-checked or replayed)",
            )
            return
        from rawtune.data.splits import data_fingerprint, read_splits
        from rawtune.tasks.base import get_task

        splits, _ = read_splits(get_task(cfg), cfg)
        now = data_fingerprint(splits)
    elif stage == "pretrain":
        if not (run.model_dir / "tokenizer_config.json").is_file():
            d.add("data", "warning", "no model/ tokenizer to fingerprint the corpus with")
            return
        from rawtune.data.corpus import corpus_fingerprint
        from rawtune.errors import DataError
        from rawtune.modeling.backbone import load_tokenizer

        try:
            now = corpus_fingerprint(cfg.data, load_tokenizer(str(run.model_dir)))
        except DataError as e:
            d.add("data", "warning", f"corpus not readable now: {e}")
            return
    else:
        d.add("data", "ok", f"{stage} run: its inputs are not fingerprinted")
        return
    if recorded is None:
        d.add("data", "warning", "the run recorded no data fingerprint")
    elif now != recorded:
        d.add("data", "problem", "the input data changed since the run (its content fingerprint differs)")
    else:
        d.add("data", "ok", "the input data is what the run was trained on")
