"""Every kind of run a rawtune command writes, one row each: what it is, what writes it, how a
directory of it is recognised (`run_kind`), how it loads as a `LoadedRun`, and what `export` and
`compress` can make of it. Prediction, evaluation and serving take every kind that loads; a kind
that does not (a pretrain run, an output holding several runs) and an export or compression a kind
cannot have are refused in one line naming the kind (`RunKind.refuse`).

Recognised, in order: an ONNX export (its mark); a run directory (config.yaml + manifest.json) by
its config's `stage` (and a few-shot run's `method`); a directory holding runs but no model of its
own (a multi-seed, few-shot, self-training or HPO output); a directory with a config.json (a plain
`save_pretrained` model); a name that can only be a Hugging Face Hub id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rawtune.artifacts.loaded import LoadedRun
from rawtune.errors import RunDirError


@dataclass(frozen=True)
class Load:
    """How to load: the device, and for an adapter run the base model and merged/strict (see
    `artifacts.run.load_run`)."""

    device: str
    base: str | None = None
    merged: bool = True
    strict: bool = True


Loader = Callable[[str, Load], LoadedRun]


@dataclass(frozen=True)
class RunKind:
    name: str
    what: str  # what a run of this kind is, in a user's words
    written_by: str
    load: Loader | None  # None: nothing to predict with (`hint` says what to do instead)
    exports: tuple[str, ...] = ()  # the `rawtune export` forms it has: copy, merge, onnx
    compresses: bool = False
    hint: str = ""
    task_head: bool = True  # its model is a transformers task head (serve --backend can convert it)

    def open(self, path: str, how: Load) -> LoadedRun:
        """The run loaded, or refused naming its kind (a `base` on a run without an adapter is
        refused when `how.strict`, else ignored)."""
        if self.load is None:
            self.refuse(path, "predict with")
        if how.base is not None and self.name not in ("finetune", "onnx"):
            if how.strict:
                raise RunDirError(f"{path}: base= needs a run with an adapter/ (this is {self.what})")
            how = Load(how.device)
        assert self.load is not None
        return self.load(path, how)

    def refuse(self, path: str, action: str) -> None:
        """Raise the one-line reason this kind cannot be `action`-ed (predict with, export, compress)."""
        hint = f"; {self.hint.replace('{path}', str(path))}" if self.hint else ""
        raise RunDirError(f"{path} is {self.what}: rawtune cannot {action} it{hint}")

    def check_export(self, path: str, form: str) -> None:
        if form not in self.exports:
            self.refuse(path, "export" if not self.exports else f"export it as {form}")

    def check_compress(self, path: str) -> None:
        if not self.compresses:
            self.refuse(path, "compress")


def _finetuned(path: str, how: Load) -> LoadedRun:
    from rawtune.artifacts.finetuned import load_finetuned
    from rawtune.artifacts.loaded import default_device

    return load_finetuned(path, default_device(how.device), how.base, merged=how.merged, strict=how.strict)


def _method(name: str) -> Loader:
    def load(path: str, how: Load) -> LoadedRun:
        from rawtune.artifacts import methods

        return getattr(methods, f"load_{name}_run")(Path(path), how.device)

    return load


def _plain(path: str, how: Load) -> LoadedRun:
    from rawtune.artifacts.plain import load_plain

    return load_plain(str(path), how.device)


_OWN_MODEL = "its model is the method's own, not a transformers task head: predict, evaluate and serve it"
_NO_MODEL = "it trained no model of its own: predict, evaluate and serve it"
KINDS: dict[str, RunKind] = {
    k.name: k
    for k in (
        RunKind(
            "finetune",
            "a fine-tuned run",
            "rawtune finetune (and continual, selftrain rounds, hpo trials, fewshot --learner finetune), "
            "rawtune compress",
            _finetuned,
            exports=("copy", "merge", "onnx"),
            compresses=True,
        ),
        RunKind("onnx", "an ONNX export", "rawtune export --onnx", _finetuned),
        RunKind(
            "setfit",
            "a SetFit few-shot run (an encoder and a logistic-regression head)",
            "rawtune fewshot --learner setfit",
            _method("setfit"),
            hint=_OWN_MODEL,
            task_head=False,
        ),
        RunKind(
            "pet",
            "a PET few-shot run (a masked LM scored at a cloze prompt)",
            "rawtune fewshot --learner pet",
            _method("pet"),
            hint=_OWN_MODEL,
            task_head=False,
        ),
        RunKind(
            "neighbours",
            "a few-shot NER nearest-neighbour run (a backbone and its k-shot sample, no trained model)",
            "rawtune fewshot --task ner --learner nnshot|proto",
            _method("neighbours"),
            hint=_NO_MODEL,
            task_head=False,
        ),
        RunKind(
            "zeroshot",
            "a zero-shot run (no trained model: the model its config names scores the labels)",
            "rawtune zeroshot",
            _method("zeroshot"),
            hint=_NO_MODEL,
            task_head=False,
        ),
        RunKind(
            "pretrained",
            "a plain save_pretrained model, not a rawtune run",
            "rawtune export [--merge], other tools, the Hugging Face Hub",
            _plain,
            hint="it is a plain model already; predict, evaluate and serve it, or fine-tune it "
            "(rawtune finetune --model {path}) to compress the run",
        ),
        RunKind(
            "pretrain",
            "a pretrain run (a language model without a task head)",
            "rawtune pretrain",
            None,
            exports=("copy",),
            hint="fine-tune it first: rawtune finetune --model {path}",
        ),
        RunKind(
            "outputs",
            "an output holding several runs, not one run",
            "rawtune finetune --seeds, fewshot, selftrain, hpo",
            None,
        ),
    )
}
_FEWSHOT_METHODS = {"setfit": "setfit", "pet": "pet", "nnshot": "neighbours", "proto": "neighbours"}
_BY_STAGE = {"pretrain": "pretrain", "zeroshot": "zeroshot", "selftrain": "outputs"}


def run_kind(path: str | Path) -> RunKind:
    """The kind of run (or model) at `path`; see the module for the order of the checks."""
    from rawtune.artifacts.onnx import is_onnx_dir
    from rawtune.modeling.backbone import looks_like_path
    from rawtune.runs.rundir import RunDir

    p = Path(path)
    if is_onnx_dir(p):
        return KINDS["onnx"]
    inside = _runs_inside(p)
    if inside and not ((p / "model").is_dir() or (p / "adapter").is_dir()):
        return _outputs(inside)
    if RunDir.is_run(p):
        written = _written_config(p)
        if written.get("stage") == "fewshot":
            return KINDS[_FEWSHOT_METHODS.get(str(written.get("method")), "setfit")]
        return KINDS[_BY_STAGE.get(str(written.get("stage")), "finetune")]
    if (p / "config.json").is_file():
        return KINDS["pretrained"]
    if p.exists() or looks_like_path(str(path)):
        return KINDS["finetune"]  # its loader says what is missing
    return KINDS["pretrained"]  # a Hugging Face Hub id


def _written_config(p: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load((p / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _runs_inside(p: Path) -> list[Path]:
    from rawtune.runs.rundir import RunDir

    if not p.is_dir():
        return []
    return sorted(d for d in p.iterdir() if d.is_dir() and RunDir.is_run(d))


def _outputs(inside: list[Path]) -> RunKind:
    """The outputs row, its hint naming the runs inside (the first few)."""
    shown = [str(d) for d in inside[:6]] + (["..."] if len(inside) > 6 else [])
    row = KINDS["outputs"]
    return RunKind(row.name, row.what, row.written_by, None, hint=f"use one of its runs: {', '.join(shown)}")
