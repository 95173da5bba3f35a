"""The HTTP API's request and response bodies (they are also its OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rawtune.serve.http_errors import ApiError


class Question(BaseModel):
    """Extractive QA: a question and the context its answer is taken from."""

    model_config = ConfigDict(extra="forbid", strict=True)

    question: str
    context: str


class Mention(BaseModel):
    """A mention: token indices (with `tokens`) or character offsets (with `text`), end exclusive."""

    model_config = ConfigDict(extra="forbid", strict=True)

    start: int
    end: int
    type: str | None = None


class RelationInput(BaseModel):
    """Relation extraction: a sentence (`text` or `tokens`) and the two mentions to relate."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: str | None = None
    tokens: list[str] | None = None
    head: Mention
    tail: Mention


class PredictRequest(BaseModel):
    """Exactly one of `texts` (every task but qa), `tokens` (NER: pre-split words), `pairs`
    (sentence-pair tasks: [text_a, text_b]), `questions` (qa: {question, context}), `relations` or
    `documents` (NER: each a list of sentences)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"texts": ["EU rejects German call to boycott British lamb."]}]},
    )

    texts: list[str] | None = Field(None, description="Raw texts; NER finds words and character offsets.")
    tokens: list[list[str]] | None = Field(None, description="NER only: each input as a list of words.")
    pairs: list[tuple[str, str]] | None = Field(None, description="Pair tasks only: [text_a, text_b] each.")
    questions: list[Question] | None = Field(None, description="QA only: {question, context} each.")
    relations: list[RelationInput] | None = Field(
        None, description="Relations only: {text | tokens, head, tail} each, as in the JSONL data."
    )
    documents: list[list[str]] | None = Field(
        None,
        description="NER only: each document as a list of sentences (raw texts), read in each other's "
        "context as the model was trained (data.doc_context); one record per document, "
        '{"sentences": [record, ...]}.',
    )

    @model_validator(mode="after")
    def _one_kind(self) -> PredictRequest:
        kinds = list(type(self).model_fields)  # the kinds of input: texts, tokens, pairs, ...
        given = [k for k in kinds if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"send exactly one of {', '.join(kinds)} (got {', '.join(given) or 'none'})")
        return self

    def inputs(self, model: str, task: str, accepted: tuple[str, ...]) -> tuple[str, list[Any]]:
        """(kind, the inputs as `Predictor.predict` takes them); 422 for a kind the task does not
        take (`accepted`: the task's `inputs`)."""
        kind = next(k for k in type(self).model_fields if getattr(self, k) is not None)
        if kind not in accepted:
            raise ApiError(
                422,
                f"model {model!r} ({task}) takes {' or '.join(accepted)}, not {kind}",
                code="wrong_input_kind",
            )
        items = getattr(self, kind)
        if kind == "documents":
            return kind, [{"sentences": list(doc)} for doc in items]
        return kind, [
            x.model_dump(exclude_none=True) if isinstance(x, BaseModel) else _plain(x) for x in items
        ]


def _plain(item: Any) -> Any:
    """A text as it is; a list of words or a pair as a list."""
    return list(item) if isinstance(item, (list, tuple)) else item


class PredictResponse(BaseModel):
    model: str
    predictions: list[dict[str, Any]] = Field(
        description="One record per input, in order, exactly as `Predictor.predict` returns it: NER "
        "`tokens`, `tags`, `entities` (type, text, words, score, and start/end character offsets for "
        "raw texts); classification `label` (or `labels`) and per-label `scores`; regression `score`; "
        "generation (seq2seq, causal) `source` and `generated` text; "
        "qa `question`, `context`, `answer`, `start`, `end` (character offsets) and `score`; "
        "relations `text` (or `tokens`), `head` and `tail` (text, type, start, end), `label`, `score`, `scores`."
    )


class ModelInfo(BaseModel):
    name: str
    task: str
    labels: list[str]
    run: str = Field(description="The run directory's name (never a full path).")
    backbone: str | None = Field(None, description="The base model: a hub id or a directory's name.")
    tuning: str | None = None
    metrics: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="The run's dev/test scalar metrics from RUN/metrics.json."
    )


class ModelList(BaseModel):
    models: list[ModelInfo]


class ErrorDetail(BaseModel):
    status: int
    code: str = Field(
        description="Stable, e.g. too_many_inputs, input_too_long, overloaded, deadline_exceeded."
    )
    message: str
    details: list[dict[str, Any]] | None = Field(None, description="Validation problems: loc, type, msg.")


class ErrorResponse(BaseModel):
    error: ErrorDetail
