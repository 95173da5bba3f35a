"""NER / token classification as a task: CoNLL or JSONL in, IOB2 tags per word out."""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from rawtune.config.options import TaskOptions
from rawtune.evaluation.metrics import ReportKind
from rawtune.modeling.word_shapes import uses_shapes
from rawtune.tasks.base import Inference, Task, register_task

if TYPE_CHECKING:
    from torch import nn

    from rawtune.tasks.features import PadCollator
    from rawtune.tasks.token_classification import EncodedTokens, WordDecoder

log = logging.getLogger("rawtune")

# A training word whose tag says nothing: no loss on it. `rawtune continual` sets it on the O words of
# replayed examples annotated before an entity type was added (their O does not mean "not that type").
UNSCORED = "<unscored>"


class NerOptions(TaskOptions):
    name: Literal["ner"] = "ner"
    # a small encoder (the packaged MiniLM, 22M parameters) wants a higher rate and more epochs than
    # the BERT-base recipe (5e-5, 3 epochs, batch 16): chosen by a sweep on CoNLL-2003 (benchmarks/README.md)
    train_defaults: ClassVar[dict[str, Any]] = {"lr": 1e-4, "epochs": 5.0, "batch_size": 32}
    subword_labels: Literal["first", "all"] = Field(
        "first", description="NER: label the first sub-token of a word, or all of them (I- after B-)."
    )
    decode: Literal["viterbi", "argmax"] = Field(
        "viterbi",
        description="NER: the best tag sequence that is valid IOB2 (no I-X after O or another type), or "
        "each word's most likely tag (invalid I-X then read as B-X); evaluation and prediction alike.",
    )
    crf: bool = Field(
        False,
        description="NER: a CRF layer (learned tag transitions) on the word scores; tuning.method full.",
    )
    case_features: bool | Literal["auto"] = Field(
        "auto",
        description="NER: each word's shape (lower, Capitalised, ALL-CAPS, mixed, digits, punctuation, "
        "sentence-initial) as a learned input embedding; auto: on when the tokenizer lowercases.",
    )
    class_weights: Literal["none", "balanced"] = Field(
        "none", description="Weight the loss by inverse class frequency in the training set."
    )


@register_task("ner")
class NerTask(Task):
    name = "ner"
    options = NerOptions
    auto_class_name = "AutoModelForTokenClassification"
    report_kinds: ClassVar[dict[str, ReportKind]] = {"ner": ReportKind("f1")}
    inputs = ("texts", "tokens", "documents")
    entities = True
    augmentable = True
    continual = True
    distill_kind = "tokens"  # type: ignore[assignment]  (one row of logits per token)
    purpose = "Tags named entities ({labels}) in text, word by word."
    sample = "Maria Lopez flew to Paris."
    weighted_examples = True  # a training example may carry a loss weight (data.extra_train)
    input_formats = ("conll", "jsonl")
    output_formats = ("jsonl", "conll")
    keeps_documents = True

    @classmethod
    def plain_task(cls, model_config: Any) -> dict[str, Any] | None:
        archs = getattr(model_config, "architectures", None) or []
        return {"name": cls.name} if any(a.endswith("ForTokenClassification") for a in archs) else None

    def __init__(self, cfg: Any):
        super().__init__(cfg)
        self.shapes = False  # word shapes as token_type_ids (set by configure_model)
        self._warned = False

    # --- data ---------------------------------------------------------------------------------
    def read(self, path: str, *, labeled: bool = True) -> Any:
        from rawtune.data.readers.labeled import read_token_file

        d = self.cfg.data
        return read_token_file(
            path,
            token_column=d.token_column,
            tag_column=d.tag_column,
            scheme=d.scheme,
            repair=d.repair_tags,
            labeled=labeled,
            doc_field=d.doc_field,
        )

    def read_inputs(self, path: str, fmt: str) -> Any:
        from rawtune.data.readers.conll import iter_token_file

        d = self.cfg.data
        return iter_token_file(path, conll=fmt == "conll", token_column=d.token_column, doc_field=d.doc_field)

    def example(self, item: Any, where: str) -> Any:
        """A prediction input: raw text (its words and their character offsets found) or a list of
        words."""
        from rawtune.data.readers.labeled import TokenExample
        from rawtune.data.words import split_words
        from rawtune.errors import DataError

        if isinstance(item, str):
            words = split_words(item)
            tokens, spans = [w for w, _, _ in words], [(s, e) for _, s, e in words]
            return TokenExample(tokens=tokens, tags=None, file=where, line=0, spans=spans)
        if isinstance(item, (list, tuple)) and all(isinstance(t, str) for t in item):
            return TokenExample(tokens=list(item), tags=None, file=where, line=0)
        raise DataError(f"NER input must be a string or a list of words, not {type(item).__name__}")

    def raw_text(self, item: Any) -> str | None:
        return item if isinstance(item, str) else None

    def line_example(self, text: str, file: str, line: int) -> Any:
        from rawtune.data.readers.labeled import TokenExample
        from rawtune.data.words import split_words

        return TokenExample(tokens=[w for w, _, _ in split_words(text)], tags=None, file=file, line=line)

    def label_space(self, train: Any) -> Any:
        from rawtune.data.labels import LabelSpace

        return LabelSpace.from_tags([ex.tags for ex in train.examples])

    def check_labels(self, space: Any, data: Any, split: str) -> None:
        from rawtune.data.labels import check_subset

        occurrences: dict[str, str] = {}
        for ex in data.examples:
            for tag in ex.tags:
                occurrences.setdefault(tag, f"{ex.file}:{ex.line}")
        check_subset(space, occurrences, what=split, file=data.file)

    def head_config(self, space: Any) -> dict[str, Any]:
        return {"num_labels": len(space.labels), "id2label": space.id2label(), "label2id": space.label2id()}

    # --- encoding -----------------------------------------------------------------------------
    def encode(
        self, tokenizer: Any, examples: list[Any], space: Any | None, *, shapes: bool = False
    ) -> EncodedTokens:
        from rawtune.tasks.features import IGNORE
        from rawtune.tasks.token_classification import encode_tokens

        d = self.cfg.data
        tag_ids = None
        if space is not None and examples and examples[0].tags is not None:
            l2i = space.label2id()
            tag_ids = [[l2i[t] if t != UNSCORED else IGNORE for t in ex.tags] for ex in examples]
        return encode_tokens(
            tokenizer,
            [ex.tokens for ex in examples],
            tag_ids,
            max_length=d.max_length,
            stride=d.stride,
            subword_labels=self.cfg.task.subword_labels,
            docs=self.documents(examples),
            b_to_i=_b_to_i(space) if space is not None else None,
            shapes=shapes,
        )

    def documents(self, examples: list[Any]) -> list[int | None] | None:
        """The document of each example when document context is on (data.doc_context: auto uses
        the boundaries the data has; true warns when it has none), else None."""
        mode = self.cfg.data.doc_context
        if mode is False or not examples:
            return None
        docs = [ex.doc for ex in examples]
        if all(d is None for d in docs):
            if mode is True and not self._warned:
                log.warning(
                    "data.doc_context is on, but %s has no document boundaries (-DOCSTART- lines in CoNLL, "
                    "a '%s' field in JSONL, blank lines between documents in .txt): each sentence is read "
                    "alone",
                    examples[0].file,
                    self.cfg.data.doc_field,
                )
                self._warned = True
            return None
        return docs

    def configure_model(self, model: nn.Module, tokenizer: Any, space: Any) -> nn.Module:
        """Before training (or encoding for a model made elsewhere): word shapes on an uncased backbone
        (task.case_features) and the CRF layer (task.crf), each recorded in the model's config so a
        loaded run uses them again; a model that reads word shapes already keeps them, and this task
        then encodes them."""
        from rawtune.errors import ConfigError, ConfigIssue
        from rawtune.modeling.word_shapes import add_word_shapes, lowercases
        from rawtune.tasks.tag_decoding import CRF

        t, tuning = self.cfg.task, self.cfg.tuning
        trains_embeddings = tuning.method in ("full", "freeze") and not (
            tuning.head_only or tuning.freeze_embeddings
        )
        wanted = t.case_features is True or (t.case_features == "auto" and lowercases(tokenizer))
        if wanted and not trains_embeddings:
            log.info(
                "task.case_features: tuning %s keeps the embeddings frozen; no word shapes", tuning.method
            )
        elif wanted and add_word_shapes(model):
            log.info("word shapes (case features) on: the tokenizer lowercases")
        if t.crf and getattr(model, "crf", None) is None:  # idempotent: a model may come back here
            if tuning.method not in ("full", "freeze"):
                raise ConfigError(
                    [ConfigIssue("task.crf", f"a CRF layer needs tuning.method full, not {tuning.method}")]
                )
            model.crf = CRF(space.labels)
            model.config.crf = True
        self.shapes = uses_shapes(model)
        return model

    def restore_model(self, model: nn.Module, model_dir: str) -> nn.Module:
        """A loaded model gets back what `configure_model` added outside the backbone (the CRF's
        transition scores, from the saved weights)."""
        from rawtune.tasks.tag_decoding import load_crf

        config = getattr(model, "config", None)  # a prompt-tuned model is wrapped: no CRF there
        if getattr(config, "crf", False) and getattr(model, "crf", None) is None:
            load_crf(model, model_dir)
        return model

    def train_features(self, tokenizer: Any, data: Any, space: Any) -> list[dict[str, Any]]:
        from rawtune.tasks.features import IGNORE, example_weights

        features = self.encode(tokenizer, data.examples, space, shapes=self.shapes).features
        example_weights(features, data.examples, "sentences")
        if self.cfg.task.crf:  # the CRF scores each sentence's labelled words as one sequence
            for f in features:
                seg = [-1] * len(f["input_ids"])
                for pos, s in zip(f["positions"], f["sentences"]):
                    if f["labels"][pos] != IGNORE:
                        seg[pos] = s
                f["segment_ids"] = seg
        return features

    def window_batch(self, features: list[dict[str, Any]], batch_size: int) -> int:
        """Windows per batch. train.batch_size counts sentences: where document context puts several
        sentences in a window, a batch takes as many windows as hold about that many sentences, so
        the number of updates (and the learning rate that suits it) does not change with context."""
        sentences = len({s for f in features for s in f["sentences"]})
        if not features or len(features) >= sentences:
            return batch_size
        windows = max(1, round(batch_size * len(features) / sentences))
        log.info(
            "document context: %d sentences in %d windows; a batch of %d windows holds about %d sentences",
            sentences, len(features), windows, batch_size,
        )  # fmt: skip
        return windows

    def collator(self, tokenizer: Any) -> PadCollator:
        from rawtune.modeling.tokenizers import pad_id
        from rawtune.tasks.features import PadCollator

        return PadCollator(pad_id(tokenizer), "tokens")

    def train_module(self, model: nn.Module, space: Any, train: Any) -> nn.Module:
        from rawtune.tasks.features import balanced_weights
        from rawtune.tasks.token_classification import TokenClassifierLoss

        weights = None
        if self.cfg.task.class_weights == "balanced":
            weights = balanced_weights(Counter(t for ex in train.examples for t in ex.tags), space.labels)
        return TokenClassifierLoss(model, weights)

    # --- decoding -----------------------------------------------------------------------------
    def _decode(
        self, model: nn.Module, tokenizer: Any, examples: list[Any], space: Any, run: Inference
    ) -> tuple[list[list[str]], list[Any], EncodedTokens, WordDecoder]:
        """The tags of every sentence as `evaluate` scores them and `predict` returns them (one
        decode path), with each tag's probability."""
        from rawtune.data.labels import repair_iob2
        from rawtune.tasks.features import forward_batches
        from rawtune.tasks.token_classification import WordDecoder

        encoded = self.encode(tokenizer, examples, space, shapes=uses_shapes(model))
        decoder = WordDecoder(
            encoded, space.labels, decode=self.cfg.task.decode, crf=getattr(model, "crf", None)
        )
        forward_batches(
            model,
            encoded.features,
            self.collator(tokenizer),
            run.batch_size,
            decoder,
            autocast=run.autocast,
            progress=run.progress,
        )
        decoder.finish()
        # Viterbi's tags are valid IOB2; an argmax's are made so (an I-X after O becomes B-X), which
        # are the entities seqeval reads from them, and a file of them reads back under the IOB2 check
        tags = [repair_iob2([space.labels[int(t)] for t in path])[0] for path in decoder.tags]
        return tags, decoder.prob, encoded, decoder

    def evaluate(
        self,
        model: nn.Module,
        tokenizer: Any,
        data: Any,
        space: Any,
        run: Inference,
        *,
        only_types: set[str] | None = None,
    ) -> dict:
        """Entity metrics of the model on `data`. `only_types`: predicted entities of other types
        are not scored (set to O) — for data annotated before those types existed, where such a
        prediction can be neither right nor wrong."""
        from rawtune.evaluation.metrics import ner_metrics

        pred, _, encoded, decoder = self._decode(model, tokenizer, data.examples, space, run)
        if only_types is not None:
            pred = [[t if t == "O" or t[2:] in only_types else "O" for t in tags] for tags in pred]
        gold = [list(ex.tags) for ex in data.examples]
        metrics: dict[str, Any] = {"loss": decoder.loss(), **ner_metrics(gold, pred)}
        metrics["uncovered_words"] = encoded.uncovered
        return metrics

    def predict(
        self, model: nn.Module, tokenizer: Any, examples: list[Any], space: Any, run: Inference
    ) -> list[dict[str, Any]]:
        from rawtune.data.labels import get_entities

        tags, prob, _, _ = self._decode(model, tokenizer, examples, space, run)
        out = []
        for ex, names, probs in zip(examples, tags, prob):
            entities = []
            for etype, start, end in get_entities(names):
                ent: dict[str, Any] = {
                    "type": etype,
                    "text": " ".join(ex.tokens[start : end + 1]),
                    "words": [start, end + 1],
                    "score": round(float(probs[start : end + 1].mean()), 4),
                }
                if ex.spans is not None:
                    ent["start"], ent["end"] = ex.spans[start][0], ex.spans[end][1]
                entities.append(ent)
            out.append({"tokens": list(ex.tokens), "tags": names, "entities": entities})
        return out


def _b_to_i(space: Any) -> dict[int, int]:
    l2i = space.label2id()
    return {
        i: l2i[f"I-{lab[2:]}"] for lab, i in l2i.items() if lab.startswith("B-") and f"I-{lab[2:]}" in l2i
    }
