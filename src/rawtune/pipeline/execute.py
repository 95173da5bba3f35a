"""How each kind of pipeline stage runs, on its validated config (`kinds.validate`). Training stages
call the same functions as their commands (`run_pretrain`, `run_finetune`, `compress_run`), so a
stage is exactly the run `rawtune <command>` would have made; each returns the files it produced."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any


def execute(kind: str, cfg: dict[str, Any], *, resume: bool, progress: bool) -> dict[str, str]:
    runner: Callable[[dict[str, Any], bool, bool], dict[str, str]] = {
        "prepare": _prepare,
        "tokenizer": _tokenizer,
        "pretrain": _pretrain,
        "finetune": _finetune,
        "learning_curve": _learning_curve,
        "evaluate": _evaluate,
        "compress": _compress,
        "export": _export,
    }[kind]
    return runner(cfg, resume, progress)


def _with_progress(cfg: dict[str, Any], progress: bool) -> dict[str, Any]:
    return {**cfg, "train": {**(cfg.get("train") or {}), "progress": progress}}


def _pretrain(cfg: dict[str, Any], resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.pretrain import run_pretrain

    run = run_pretrain(_with_progress(cfg, progress), resume=resume)
    return {"model": str(run.model_dir)}


def _finetune(cfg: dict[str, Any], resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.finetune import run_finetune

    run = run_finetune(_with_progress(cfg, progress), resume=resume)
    return {"model": str(run.model_dir)}


def _learning_curve(cfg: dict[str, Any], resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.learning_curve import run_learning_curve

    body = {k: v for k, v in cfg.items() if k not in ("fractions", "series", "min_steps")}
    path = run_learning_curve(
        _with_progress(body, progress),
        cfg["fractions"],
        cfg["series"],
        min_steps=cfg["min_steps"],
        resume=resume,
    )
    return {"curve": str(path / "learning_curve.json")}


def _compress(cfg: dict[str, Any], resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.compress import compress_run

    run, _ = compress_run(_with_progress(cfg, progress) if "train" in cfg else cfg, resume=resume)
    return {"model": str(run.model_dir)}


def _own_run(cfg: dict[str, Any], kind: str, parent: str | None = None):
    import yaml

    from rawtune.runs.rundir import RunDir

    manifest = {"stage": kind, "parent": str(Path(parent).resolve()) if parent else None}
    return RunDir.create(cfg["output"], yaml.safe_dump(cfg, sort_keys=False), manifest)


def _prepare(cfg: dict[str, Any], resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.errors import ConfigError, ConfigIssue, DataError
    from rawtune.runs.atomic import sha256_file

    run = _own_run(cfg, "prepare")
    data = run.path / "data"
    outputs: dict[str, Path] = {}
    if cfg["sample"] == "synthetic-ner":
        from rawtune.samples.synthetic_ner import write

        outputs.update(write(data))
    for key, src in cfg["files"].items():
        p = Path(src)
        if not p.is_file():
            raise DataError("no such file", file=src, field=f"files.{key}")
        dst = data / key / p.name  # the file's own name: readers pick the format by its extension
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, dst)
        outputs[key] = dst
    for key, of in cfg["text_of"].items():
        if of not in outputs:
            raise ConfigError(
                [
                    ConfigIssue(
                        f"text_of.{key}", f"'{of}' is not one of this stage's files: {', '.join(outputs)}"
                    )
                ]
            )
        outputs[key] = data / f"{key}.txt"
        lines = _texts(str(outputs[of]))
        outputs[key].write_text("".join(t + "\n" for t in lines), encoding="utf-8")
    files = {
        k: {"path": str(v), "sha256": sha256_file(v), "bytes": v.stat().st_size} for k, v in outputs.items()
    }
    run.update_manifest(outputs={k: str(v) for k, v in outputs.items()})
    run.finish({"files": files})
    return {k: str(v) for k, v in outputs.items()}


def _texts(path: str) -> list[str]:
    """The texts of a labeled file: a CoNLL/JSONL token file's sentences (words joined by spaces) or
    a CSV/TSV/JSONL table's text column."""
    import json

    from rawtune.data.readers.labeled import read_text_table, read_token_file

    name = path.lower().removesuffix(".gz")
    table = name.endswith((".csv", ".tsv"))
    if name.endswith(".jsonl"):
        with open(path, encoding="utf-8") as f:
            first = next((line for line in f if line.strip()), "{}")
        table = "tokens" not in json.loads(first)
    if table:
        return [
            " ".join(filter(None, (e.text, e.text_b))) for e in read_text_table(path, labeled=False).examples
        ]
    return [" ".join(e.tokens) for e in read_token_file(path, labeled=False).examples]


def _tokenizer(cfg: dict[str, Any], resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.config.loader import load_config
    from rawtune.modeling.tokenizers import train_tokenizer

    run = _own_run(cfg, "tokenizer")
    data_cfg = load_config(
        "pretrain",
        overrides={
            "data.corpus": cfg["corpus"],
            "data.text_field": cfg["text_field"],
            "data.document": cfg["document"],
        },
        require=False,
    ).data
    out = run.path / "tokenizer"
    tok = train_tokenizer(
        cfg["corpus"],
        out,
        type=cfg["type"],
        vocab_size=cfg["vocab_size"],
        min_frequency=cfg["min_frequency"],
        lowercase=cfg["lowercase"],
        data_cfg=data_cfg,
    )
    run.update_manifest(outputs={"tokenizer": str(out)})
    run.finish({"vocab_size": len(tok)})
    return {"tokenizer": str(out)}


def _evaluate(cfg: dict[str, Any], resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.evaluate import evaluate_run

    run = _own_run(cfg, "evaluate", cfg["run"])
    metrics, out = evaluate_run(
        cfg["run"], cfg["data"], name=cfg["name"], batch_size=cfg["batch_size"], out_root=run.path / "eval"
    )
    run.update_manifest(outputs={"report": str(out / "report.md")})
    run.finish({"data": cfg["data"], "evaluated": cfg["run"], out.name: metrics})
    return {"report": str(out / "report.md")}


def _export(cfg: dict[str, Any], resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.stages.export import export_run

    run = _own_run(cfg, "export", cfg["run"])
    out = run.path / "model"
    record = export_run(
        cfg["run"],
        str(out),
        merge=cfg["merge"],
        onnx=cfg["onnx"],
        quantize=cfg["quantize"],
        opset=cfg["opset"],
    )
    run.update_manifest(outputs={"model": str(out)})
    run.finish({"export": record})
    return {"model": str(out)}
