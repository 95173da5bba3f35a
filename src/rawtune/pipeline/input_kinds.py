"""The kinds that make a later stage's inputs: `prepare` (copies the pipeline's input files into
the stage, or writes a bundled sample) and `tokenizer` (trains a tokenizer on a corpus)."""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from rawtune.config.base import PathStr
from rawtune.pipeline.kinds import KINDS, Config, Kind, PlainConfig, own_run, plain

SAMPLES = ("synthetic-ner",)


class PrepareConfig(PlainConfig):
    """Copies the pipeline's input files into the stage (fingerprinted, read-only for later stages),
    or writes a bundled sample."""

    output: PathStr
    sample: Literal[SAMPLES] | None = Field(None, description="Write a bundled sample (train/dev/test/raw).")  # type: ignore[valid-type]
    files: dict[str, PathStr] = Field(default_factory=dict, description="name: path of each input file.")
    text_of: dict[str, str] = Field(
        default_factory=dict,
        description="new name: name of a labeled file above; its texts, one per line, as raw text "
        "(the task's own text for task-adaptive pretraining).",
    )


class TokenizerStageConfig(PlainConfig):
    output: PathStr
    corpus: list[PathStr] = Field(min_length=1)
    type: Literal["wordpiece", "bpe", "unigram"] = "wordpiece"
    vocab_size: int = Field(16000, ge=100)
    min_frequency: int = Field(2, ge=1)
    lowercase: bool = True
    text_field: str = "text"
    document: Literal["line", "paragraph"] = "line"


def _prepare(cfg: Config, resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.errors import ConfigError, ConfigIssue, DataError
    from rawtune.runs.atomic import sha256_file

    run = own_run(cfg, "prepare")
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


def _tokenizer(cfg: Config, resume: bool, progress: bool) -> dict[str, str]:
    from rawtune.config.loader import load_config
    from rawtune.modeling.tokenizers import train_tokenizer

    run = own_run(cfg, "tokenizer")
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


def _files(cfg: Config) -> list[tuple[str, Any]]:
    return [(f"files.{k}", v) for k, v in cfg.get("files", {}).items()]


def _parts(cfg: Config, hashes: dict[str, str]) -> dict[str, str]:
    """Each output's own fingerprint: a copied file's is its content's, a `text_of` file's that of
    the file it is made from. A bundled sample's outputs have none (the stage's stands in)."""
    import hashlib

    def digest(*bits: str) -> str:
        return hashlib.sha256("\0".join(bits).encode()).hexdigest()[:16]

    # the name too: the copy keeps it, and its extension picks the reader
    parts = {k: digest("file", Path(p).name, hashes[p]) for k, p in cfg["files"].items() if p in hashes}
    parts.update({k: digest("text_of", parts[of]) for k, of in cfg["text_of"].items() if of in parts})
    return parts


KINDS.register("prepare")(Kind(partial(plain, PrepareConfig), _prepare, inputs=_files, parts=_parts))
KINDS.register("tokenizer")(Kind(partial(plain, TokenizerStageConfig), _tokenizer))
