"""The runs the few-shot and zero-shot methods write, loaded. None holds a transformers task head, so
each loads as its method's own scorer (`tasks.scored`: the classification or NER task it is, with
the method's forward pass), and predicts, evaluates and serves like any other run:

- setfit: RUN/model/ is the trained encoder with its tokenizer, HEAD_FILE (the logistic-regression
  head's numbers) and META_FILE (how it embeds);
- pet: RUN/model/ is the masked LM with its tokenizer and META_FILE (template, verbaliser, labels);
  the window is config.yaml's data.max_length;
- neighbours (fewshot --learner nnshot|proto): no model of its own; the backbone config.yaml names
  and the support sample the manifest records (OUTPUT/kshot/seed-N.conll), embedded at load as the
  run embedded them;
- zeroshot: no model of its own; the model, method, labels and templates of config.yaml.

Writers stay with their method (`fewshot.setfit`, `fewshot.pet`) and import the file names from here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rawtune.artifacts.loaded import LoadedRun
from rawtune.errors import RunDirError

HEAD_FILE, META_FILE = "fewshot_head.json", "fewshot.json"


def _fewshot(run_path: Path) -> tuple[Any, Any]:
    """(the run's FewshotConfig, the fine-tuning config its files and inputs are read with)."""
    from rawtune.config.fewshot import finetune_config
    from rawtune.config.loader import load_config

    fs = load_config("fewshot", file=run_path / "config.yaml", require=False)
    return fs, finetune_config(fs, fs.seed, str(fs.data.train), str(run_path))


def _classifier(
    run_path: Path, cfg: Any, model: Any, tokenizer: Any, labels: list[str], kind: str
) -> LoadedRun:
    from rawtune.data.labels import LabelSpace
    from rawtune.tasks.scored import ScoredClassificationTask

    model.eval()
    return LoadedRun(
        run_path, cfg, ScoredClassificationTask(cfg), model, tokenizer, LabelSpace(tuple(labels)), kind
    )


def load_setfit_run(run_path: Path, device: str) -> LoadedRun:
    from rawtune.artifacts.pretrained import load_task_model
    from rawtune.modeling.backbone import load_tokenizer
    from rawtune.tasks.contrastive import LogisticHead, SetFitClassifier

    d = run_path / "model"
    _, cfg = _fewshot(run_path)
    head = LogisticHead.from_json(json.loads((d / HEAD_FILE).read_text()))
    meta = json.loads((d / META_FILE).read_text())
    model = SetFitClassifier(load_task_model(str(d), "AutoModel"), head, int(meta["max_length"])).to(device)
    return _classifier(run_path, cfg, model, load_tokenizer(str(d)), list(head.labels), "setfit")


def load_pet_run(run_path: Path, device: str) -> LoadedRun:
    from rawtune.artifacts.pretrained import load_task_model
    from rawtune.modeling.backbone import load_tokenizer
    from rawtune.tasks.prompt_cls import PromptClassifier, verbalizer_ids

    d = run_path / "model"
    fs, cfg = _fewshot(run_path)
    meta = json.loads((d / META_FILE).read_text())
    tokenizer, labels = load_tokenizer(str(d)), list(meta["labels"])
    words = verbalizer_ids(tokenizer, meta["verbalizer"], labels)
    mlm = load_task_model(str(d), "AutoModelForMaskedLM")
    model = PromptClassifier(mlm, words, meta["template"], fs.data.max_length).to(device)
    return _classifier(run_path, cfg, model, tokenizer, labels, "pet")


def load_zeroshot_run(run_path: Path, device: str) -> LoadedRun:
    from rawtune.config.loader import load_config
    from rawtune.config.zeroshot import finetune_config
    from rawtune.tasks.zeroshot import load_zeroshot

    zs = load_config("zeroshot", file=run_path / "config.yaml", require=False)
    model, tokenizer, _ = load_zeroshot(zs)
    return _classifier(
        run_path, finetune_config(zs), model.to(device), tokenizer, list(zs.labels), "zeroshot"
    )


def load_neighbours_run(run_path: Path, device: str) -> LoadedRun:
    from transformers import AutoModel

    from rawtune.data.labels import LabelSpace
    from rawtune.data.readers.conll import read_token_file
    from rawtune.modeling.backbone import load_pretrained, load_tokenizer, resolve
    from rawtune.tasks.fewshot_ner import NeighbourTagger
    from rawtune.tasks.scored import ScoredNerTask

    fs, cfg = _fewshot(run_path)
    src = resolve(str(fs.model.name_or_path))
    tokenizer = load_tokenizer(src.ref, fs.model)
    encoder = load_pretrained(src, AutoModel, fs.model).to(device).eval()
    sample = read_token_file(str(_support_file(run_path))).examples
    support = [(ex.tokens, ex.tags) for ex in sample]
    tagger = NeighbourTagger.from_support(encoder, tokenizer, support, fs.method, fs.data.max_length)
    space = LabelSpace(tuple(tagger.labels()))
    return LoadedRun(run_path, cfg, ScoredNerTask(cfg), tagger.eval(), tokenizer, space, "neighbours")


def _support_file(run_path: Path) -> Path:
    """The k-shot sample a nearest-neighbour run tags with: the file its manifest names, or the one
    of that name in the study's kshot/ beside the run (a study moved as a whole)."""
    from rawtune.runs.rundir import RunDir

    recorded = (RunDir(run_path).manifest().get("kshot") or {}).get("file")
    if not recorded:
        raise RunDirError(f"{run_path}: its manifest names no k-shot sample (kshot.file) to tag with")
    for candidate in (Path(recorded), run_path.parent / "kshot" / Path(recorded).name):
        if candidate.is_file():
            return candidate
    raise RunDirError(
        f"{run_path}: the k-shot sample it tags with is gone ({recorded}); a nearest-neighbour run "
        "keeps no model of its own, only the backbone and that sample"
    )
