"""Continual learning as fine-tuning's steps with its own in between: the grown label space, replay
mixed into the new training data, the previous model loaded and grown (scored before it trains),
the penalty toward the previous weights around the training module, and the forgetting report
(with the replay memory the next version reads) before the run is marked complete."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rawtune.continual import replay
from rawtune.data.splits import with_examples

log = logging.getLogger("rawtune")


class ContinualPlan:
    def __init__(self, cfg, ft, previous: Path, manifest, base, old_devs: list[str], new_sha: str, mlm=None):
        from rawtune.tasks.base import get_task

        self.cfg, self.ft, self.previous, self.base = cfg, ft, previous, base
        self.old_labels = list(manifest["labels"])
        self.old_devs, self.new_sha, self.mlm = old_devs, new_sha, mlm
        self.task = get_task(ft)
        self.manifest: dict[str, Any] = {}
        self.old_pool = self._read_old_pool()
        self.new_examples: list[Any] = []
        self.before: dict[str, dict[str, Any]] = {}
        self.penalty = None
        self.tokenizer = None
        self.manifest["continual"] = {
            "previous": str(self.previous.resolve()),
            "base": self.base,
            "new_data": str(self.cfg.data.new),
            "new_data_sha256": self.new_sha,
            "dev_sets": [*self.old_devs, *([str(self.cfg.data.dev)] if self.cfg.data.dev else [])],
        }

    # --- data -----------------------------------------------------------------------------------
    def _read_old_pool(self) -> Any:
        """Earlier examples: data.old_raw labeled by the previous model, else the previous run's
        replay memory, else its training file."""
        from rawtune.errors import DataError
        from rawtune.tasks.base import get_task

        if self.cfg.data.old_raw:
            return self._pseudo_labeled()
        memory = replay.memory_file(self.previous)
        if memory is not None:
            # the memory is written in rawtune's own layout (word tag / text,label): read it so
            plain = self.ft.model_copy(
                update={
                    "data": self.ft.data.model_copy(
                        update={"token_column": 0, "tag_column": -1, "scheme": "iob2"}
                    )
                }
            )
            return get_task(plain).read(str(memory))
        train = self.base.get("train_file")
        needed = self.cfg.replay.ratio > 0 or self.cfg.regularize.method == "ewc"
        if (not train or not Path(train).is_file()) and not needed:
            log.warning(
                "the previous run's training data %s is gone: the replay memory holds new data only", train
            )
            return with_examples(self.task.read(str(self.cfg.data.new)), [])  # no earlier examples
        if not train or not Path(train).is_file():
            raise DataError(
                "replay needs the previous run's training data, which is gone; restore it or set replay.ratio=0",
                file=str(train),
            )
        return self.task.read(train)

    def _pseudo_labeled(self) -> Any:
        """data.old_raw with the previous model's predictions as labels (pseudo-label replay)."""
        import dataclasses

        from rawtune.artifacts.run import load_run

        previous = load_run(self.previous, device="cpu")
        files = [str(p) for p in self.cfg.data.old_raw]
        examples = []
        for path in files:
            inputs = [ex for ex, _ in previous.file_examples(path)]
            records = previous.predict_examples(inputs, [None] * len(inputs), batch_size=64)
            examples += [replay.pseudo_labeled(self.task.name, ex, rec) for ex, rec in zip(inputs, records)]
        log.info(
            "replay: %d earlier inputs labeled by the previous model (%s)", len(examples), ", ".join(files)
        )
        self.manifest["pseudo_labels"] = {"files": files, "examples": len(examples)}
        pool = with_examples(self.task.read(str(self.cfg.data.new)), examples)
        return dataclasses.replace(pool, file=", ".join(files))

    def space(self, new_space: Any) -> Any:
        from rawtune.data.labels import LabelSpace

        # the previous labels in their order, then the labels only the new data has
        old = self.old_labels
        space = LabelSpace((*old, *(lab for lab in new_space.labels if lab not in old)))
        added = list(space.labels[len(self.old_labels) :])
        if added:
            log.info(
                "new labels %s: the head grows from %d to %d rows", added, len(self.old_labels), len(space)
            )
        self.manifest["labels_added"] = added
        return space

    def train(self, new: Any, space: Any) -> Any:
        self.new_examples = list(new.examples)
        n = round(self.cfg.replay.ratio * len(new.examples))
        mixed = replay.sample(self.old_pool.examples, n, self.cfg.seed)
        if self.task.name == "ner" and len(space) > len(self.old_labels) and self.cfg.replay.mask_outside:
            mixed = replay.mask_outside(mixed)
        log.info("replay: %d earlier examples with %d new ones", len(mixed), len(new.examples))
        self.manifest["replay"] = {
            "examples": len(mixed),
            "pool": self.old_pool.file,
            "new": len(new.examples),
        }
        return with_examples(new, self.new_examples + mixed)

    # --- model ----------------------------------------------------------------------------------
    def build(self, src: Any, tokenizer: Any, space: Any) -> Any:
        """The previous model with its head grown to `space` (new rows start silent, so `before`
        scores the previous model), the penalty anchored on it, and the continued-MLM encoder if
        there is one; its new rows' initialisation is a function of the seed."""
        import torch

        from rawtune.data.labels import LabelSpace
        from rawtune.modeling.heads import build_task_model, grow_head, init_new_rows

        torch.manual_seed(self.ft.seed)
        task, old_space = self.task, LabelSpace(tuple(self.old_labels))
        head = task.head_config(old_space)
        model = build_task_model(self.ft.model, src, task.auto_class_name, head, old_space, reinit_head=False)
        self.tokenizer = tokenizer
        if self.cfg.regularize.method != "none":
            self.penalty = self._penalty(model, old_space)
        n_old = grow_head(model, list(space.labels))  # new rows silent: `before` is the previous model's
        self.before = self._scores(model, space, grown=len(space) > n_old)
        if self.mlm is not None:
            self._load_encoder(model)
        init_new_rows(model, n_old)
        return model

    def _load_encoder(self, model: Any) -> None:
        """The encoder trained by the continued MLM step into the task model (its head stays). The
        penalty still anchors on the previous model: the MLM step is adaptation it may undo."""
        from transformers import AutoModelForMaskedLM

        from rawtune.errors import ModelError

        mlm = AutoModelForMaskedLM.from_pretrained(str(self.mlm / "model"))
        missing, unexpected = model.base_model.load_state_dict(mlm.base_model.state_dict(), strict=False)
        if unexpected or any(not k.startswith("pooler.") for k in missing):
            raise ModelError(
                f"the continued-MLM encoder {self.mlm} does not fit the task model: {missing + unexpected}"
            )
        self.manifest["mlm_run"] = str(self.mlm.resolve())
        log.info("encoder from the continued MLM run %s", self.mlm)

    def _penalty(self, model: Any, old_space: Any) -> Any:
        from rawtune.continual.penalty import Penalty, fisher_diagonal

        weights = None
        if self.cfg.regularize.method == "ewc":
            data = with_examples(
                self.old_pool,
                replay.sample(self.old_pool.examples, self.cfg.regularize.fisher_examples, self.cfg.seed),
            )
            self.task.configure_model(
                model, self.tokenizer, old_space
            )  # encode as the model reads (word shapes)
            feats = self.task.train_features(self.tokenizer, data, old_space)
            collate = self.task.collator(self.tokenizer)
            size = self.task.window_batch(feats, self.ft.train.batch_size)  # as training batches them
            batches = (collate(feats[i : i + size]) for i in range(0, len(feats), size))
            weights = fisher_diagonal(self.task.train_module(model, old_space, data), batches)
            log.info("EWC: Fisher estimated on %d earlier examples", len(data.examples))
        r = self.cfg.regularize
        self.manifest["regularize"] = {"method": r.method, "strength": r.strength}
        if weights is not None:
            self.manifest["regularize"]["fisher_examples"] = len(data.examples)
        return Penalty(model, weights, r.strength)

    # --- fine-tuning with continual's steps ------------------------------------------------------
    def fine_tuning(self) -> Any:
        """Fine-tuning's data and model steps, with the grown space, the replay mix and the previous
        model in place of a new head."""
        from rawtune.data.splits import data_fingerprint, read_splits
        from rawtune.finetuning.model import complete_model, load_tokenizer_for, tune
        from rawtune.finetuning.run import FineTuning, check_labels

        task, ft = self.task, self.ft
        splits, new_space = read_splits(task, ft)
        fingerprint = data_fingerprint(splits)
        space = self.space(new_space)
        splits["train"] = self.train(splits["train"], space)
        check_labels(task, space, splits)
        src, tokenizer = load_tokenizer_for(task, ft, splits["train"])
        model = complete_model(task, self.build(src, tokenizer, space), tokenizer, space)
        tuned = tune(task, ft, src, tokenizer, model)
        return FineTuning(ft, task, splits, space, src, tokenizer, tuned, fingerprint)

    def run_spec(self, tr: Any, fine: Any) -> Any:
        """Fine-tuning's RunSpec with the penalty around the training module, continual's manifest
        entries, and the forgetting report added to the summary."""
        from rawtune.artifacts.loaded import FINETUNE_CONFIG
        from rawtune.config.loader import dump_config
        from rawtune.finetuning.run import run_spec

        spec = run_spec(tr, fine)
        spec.manifest.update(self.manifest)
        spec.files[FINETUNE_CONFIG] = dump_config(fine.cfg)  # what rawtune predicts with it reads
        if self.penalty is not None:
            from rawtune.continual.penalty import Regularized

            spec.training.module = Regularized(spec.training.module, self.penalty)
        conclude = spec.conclude
        spec.conclude = lambda result: {**conclude(result), **self.forgetting(fine.tuned.model, fine.space)}
        return spec

    # --- the report -----------------------------------------------------------------------------
    def _sets(self) -> list[tuple[str, str]]:
        sets = [("old", f) for f in self.old_devs]
        if self.cfg.data.dev:
            sets.append(("new", str(self.cfg.data.dev)))
        return sets

    def _scores(self, model: Any, space: Any, grown: bool = False) -> dict[str, dict[str, Any]]:
        from rawtune.tasks.base import Inference

        out = {}
        for kind, file in self._sets():
            data = self.task.read(file)
            self.task.check_labels(space, data, file)
            extra = {}
            if kind == "old" and self.task.name == "ner" and len(space) > len(self.old_labels):
                # an earlier set has no annotation for the added types: their entities are not scored
                extra["only_types"] = {lab[2:] for lab in self.old_labels if lab != "O"}
            m = self.task.evaluate(model, self.tokenizer, data, space, Inference(batch_size=64), **extra)
            if grown:
                m.pop("loss", None)  # silent rows have logits of -1e4: their loss says nothing
            out[file] = m
        return out

    def forgetting(self, model: Any, space: Any) -> dict[str, Any]:
        """Every earlier evaluation set and the new one scored after training, against `before`:
        the summary's forgetting record and gate; eval/forgetting.json and the replay memory."""
        from rawtune.runs.atomic import write_json

        after = self._scores(model, space)
        key = self.task.primary[0]
        sets = []
        for kind, file in self._sets():
            b, a = self.before[file].get(key), after[file].get(key)
            sets.append({"kind": kind, "file": file, "before": b, "after": a, "change_points": 100 * (a - b)})
        drops = [-s["change_points"] for s in sets if s["kind"] == "old"]
        forgetting = {"metric": key, "sets": sets, "forgetting_points": max(0.0, max(drops))}
        out: dict[str, Any] = {"forgetting": forgetting}
        if self.cfg.max_forgetting is not None:
            out["gate"] = {
                "max_forgetting": self.cfg.max_forgetting,
                "forgetting": forgetting["forgetting_points"],
                "passed": forgetting["forgetting_points"] <= self.cfg.max_forgetting,
            }
        run = Path(str(self.cfg.output))
        (run / "eval").mkdir(parents=True, exist_ok=True)
        write_json(run / "eval" / "forgetting.json", {**forgetting, "before": self.before, "after": after})
        replay.write_memory(
            run,
            self.task.name,
            self.old_pool.examples,
            self.new_examples,
            self.cfg.replay.memory,
            self.cfg.seed,
            self.ft.data,
        )
        return out
