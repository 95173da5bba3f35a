"""The Hugging Face side of the NER benchmarks: transformers' examples/pytorch/token-classification/
run_ner.py recipe as a worker (tokenize_and_align_labels: first sub-token labelled, the others -100,
truncation to 128; AutoModelForTokenClassification; DataCollatorForTokenClassification; Trainer), and the
shared evaluation every final model — HF's and rawtune's — is scored with (word-level tags from the first
sub-token's argmax; seqeval default and strict IOB2; the per-tag token report).

A worker spec may ask for the peer's best documented settings: `group_by_length` (batches of similar
length) and `bf16` (autocast; used where this machine runs it faster) — see ner_quality.py.
"""

from __future__ import annotations

import time

from corpora import read_conll, words_and_tags
from recipe import EVAL_BATCH, MAX_LENGTH, label_maps, trainer_args


# --- shared evaluation (the HF worker and the eval worker use the same code for every model) ------------------
def predict_word_tags(model, tokenizer, sentences: list[list[str]]) -> tuple[list[list[str]], int]:
    """Word-level tags from the first sub-token's argmax, max 128 tokens per sentence (truncation, as the HF
    recipe trains); words cut off by truncation get "O". Returns (tags per sentence, number of cut-off words)."""
    import torch

    model.eval()
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    # batches of similar length (less padding); the original order is restored below
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    preds: list[list[str] | None] = [None] * len(sentences)
    uncovered = 0
    with torch.no_grad():
        for start in range(0, len(order), EVAL_BATCH):
            idx = order[start : start + EVAL_BATCH]
            words = [sentences[i] for i in idx]
            enc = tokenizer(
                words,
                is_split_into_words=True,
                truncation=True,
                max_length=MAX_LENGTH,
                padding=True,
                return_tensors="pt",
            )
            word_ids = [enc.word_ids(b) for b in range(len(idx))]
            ids = model(**enc.to(model.device)).logits.argmax(-1).tolist()
            for b, i in enumerate(idx):
                tags = ["O"] * len(sentences[i])
                seen: set[int] = set()
                for j, wid in enumerate(word_ids[b]):
                    if wid is not None and wid not in seen:
                        seen.add(wid)
                        tags[wid] = id2label[ids[b][j]]
                uncovered += len(sentences[i]) - len(seen)
                preds[i] = tags
    return [p or [] for p in preds], uncovered


def score_ner(gold: list[list[str]], pred: list[list[str]]) -> dict:
    """seqeval default (as run_ner.py / `evaluate.load("seqeval")`) and strict IOB2; per-tag token report."""
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2
    from sklearn.metrics import classification_report as token_report

    flat_gold = [t for s in gold for t in s]
    flat_pred = [t for s in pred for t in s]
    tags = sorted(set(flat_gold) | set(flat_pred))
    per_type = classification_report(gold, pred, output_dict=True, zero_division=0)
    return {
        "f1": f1_score(gold, pred),
        "precision": precision_score(gold, pred),
        "recall": recall_score(gold, pred),
        "f1_strict": f1_score(gold, pred, mode="strict", scheme=IOB2),
        "per_type": {
            k: {m: float(v[m]) for m in ("precision", "recall", "f1-score", "support")}
            for k, v in per_type.items()
        },
        "token_report": token_report(flat_gold, flat_pred, labels=tags, output_dict=True, zero_division=0),
    }


# --- workers (each runs in its own subprocess: `python ner_conll.py --_worker SPEC.json`) ----------------------
def worker_hf(spec: dict) -> dict:
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        set_seed,
    )

    t_start = time.perf_counter()
    set_seed(spec["seed"])
    train_words, train_tags = words_and_tags(read_conll(spec["train_file"]))
    dev_words, dev_tags = words_and_tags(read_conll(spec["dev_file"]))
    label_list = sorted({t for s in train_tags for t in s})  # run_ner.py: sorted labels of the train set
    label2id = {label: i for i, label in enumerate(label_list)}

    tokenizer = AutoTokenizer.from_pretrained(spec["model"])

    def tokenize_and_align_labels(examples):
        tokenized = tokenizer(
            examples["tokens"], truncation=True, max_length=MAX_LENGTH, is_split_into_words=True
        )
        labels = []
        for i, tags in enumerate(examples["ner_tags"]):
            previous = None
            ids = []
            for wid in tokenized.word_ids(batch_index=i):
                if wid is None or wid == previous:
                    ids.append(-100)  # special tokens and non-first sub-tokens (label_all_tokens=False)
                else:
                    ids.append(label2id[tags[wid]])
                previous = wid
            labels.append(ids)
        tokenized["labels"] = labels
        return tokenized

    raw = Dataset.from_dict({"tokens": train_words, "ner_tags": train_tags})
    train_ds = raw.map(tokenize_and_align_labels, batched=True, remove_columns=raw.column_names)
    model = AutoModelForTokenClassification.from_pretrained(spec["model"], **label_maps(label_list))
    trainer = Trainer(
        model=model,
        args=trainer_args(spec),
        train_dataset=train_ds,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        processing_class=tokenizer,
    )
    train_result = trainer.train()
    train_runtime = float(train_result.metrics["train_runtime"])

    t_eval = time.perf_counter()
    pred, uncovered = predict_word_tags(trainer.model, tokenizer, dev_words)
    scores = score_ner(dev_tags, pred)
    return {
        **scores,
        "train_seconds": train_runtime,
        "sentences_per_s": len(train_words) * spec["epochs"] / train_runtime,
        "examples": len(train_words),
        "steps": trainer.state.global_step,
        "final_train_loss": train_result.metrics.get("train_loss"),
        "uncovered_words": uncovered,
        "eval_seconds": time.perf_counter() - t_eval,
        "worker_seconds": time.perf_counter() - t_start,
        "threads": torch.get_num_threads(),
        "labels": label_list,
    }


def worker_eval(spec: dict) -> dict:
    """Score every model dir (AutoModelForTokenClassification + tokenizer) with the HF row's evaluation code."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    dev_words, dev_tags = words_and_tags(read_conll(spec["dev_file"]))
    results = {}
    for name, path in spec["models"].items():
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForTokenClassification.from_pretrained(path)
            pred, uncovered = predict_word_tags(model, tokenizer, dev_words)
            results[name] = {**score_ner(dev_tags, pred), "uncovered_words": uncovered}
        except Exception as exc:  # one bad model dir must not lose the others' scores
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return results
