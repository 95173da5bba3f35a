"""The model card of a run, written from the facts on disk: what data it saw, what it is for, its
limitations (each one read off the data, metrics and artifacts, never boilerplate) and how to load it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rawtune.reporting.files import dig, obj, seq
from rawtune.reporting.markup import Raw, bullets, is_number, kv_table, para, pre, section, sub
from rawtune.reporting.runinfo import RunInfo

SMALL_TRAIN = 1000  # labeled training examples below which the card says the set is small
SMALL_DEV = 500  # dev examples below which a metric is called uncertain
LOW_F1 = 0.5
LOW_SUPPORT = 10


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def entity_types(labels: list[str]) -> list[str]:
    return list(dict.fromkeys(lab[2:] for lab in labels if lab[:2] in ("B-", "I-", "E-", "S-")))


def model_card(info: RunInfo) -> Raw:
    if info.stage == "learning_curve":
        return Raw("")
    parts = [sub("Data", _data(info)), sub("Intended use", para(intended_use(info)))]
    parts.append(sub("Limitations", bullets(limitations(info))))
    parts.append(sub("How to load", pre(how_to_load(info), cls="code")))
    return section("Model card", *parts, anchor="card")


def _data(info: RunInfo) -> Raw:
    pairs: list[tuple[str, Any]] = []
    for split, d in obj(info.manifest.get("data")).items():
        if isinstance(d, dict):
            pairs.append((f"{split} data", f"{d.get('file', '?')} ({d.get('examples', '?')} examples)"))
    corpus = obj(info.manifest.get("corpus"))
    if corpus:
        pairs.append(
            (
                "raw-text corpus",
                f"{corpus.get('train_documents', '?')} documents, {corpus.get('train_tokens', '?')} tokens",
            )
        )
    labels = info.labels
    entities = info.task_info is not None and info.task_info.entities
    if labels:
        types = entity_types(labels) if entities else labels
        pairs.append(("entity types" if entities else "labels", ", ".join(types)))
    base = dig(info.manifest, "model_source", "ref") or dig(info.config, "model", "name_or_path")
    if base:
        pairs.append(("base model", base))
    if info.manifest.get("parent"):
        pairs.append(("parent run", info.manifest["parent"]))
    return kv_table(pairs) if pairs else para("No data recorded.")


def intended_use(info: RunInfo) -> str:
    labels = info.labels
    train = obj(dig(info.manifest, "data", "train"))
    trained = (
        f" It was trained on {train.get('examples', '?')} examples from {Path(str(train.get('file', '?'))).name}."
        if train
        else ""
    )
    if info.stage == "pretrain":
        return (
            "A language model adapted to the raw text it was trained on, meant as the starting point "
            "for fine-tuning (rawtune finetune --model THIS_RUN), not for predictions of its own."
        )
    task = info.task_info
    if task is None:
        what = f"Task: {info.task or 'unknown'}."
    elif task.entities:
        what = task.purpose.format(labels=", ".join(entity_types(labels)) or "types as trained")
    else:
        what = task.purpose.format(labels=", ".join(labels) or "the trained labels")
    extra = (
        " A compressed copy of its parent run, for faster or smaller CPU serving."
        if info.stage == "compress"
        else ""
    )
    return f"{what}{trained}{extra} Use it on text like its training data."


def limitations(info: RunInfo) -> list[str]:
    out = []
    if info.status not in ("complete", "unknown"):
        out.append(f"The run's status is {info.status}: it did not finish as planned.")
    out += _data_limits(info) + _metric_limits(info) + _artifact_limits(info)
    out.append(
        "It knows only the language, domain and label definitions of its training data; "
        "expect lower scores on other text."
    )
    return out


def _data_limits(info: RunInfo) -> list[str]:
    out = []
    data = obj(info.manifest.get("data"))
    n_train = dig(data, "train", "examples")
    if is_number(n_train) and n_train < SMALL_TRAIN:
        out.append(f"Small training set: {n_train} labeled examples.")
    n_dev = dig(data, "dev", "examples")
    if is_number(n_dev) and n_dev < SMALL_DEV:
        out.append(f"The dev metric comes from only {n_dev} examples; differences of a few points are noise.")
    if info.stage == "finetune" and "test" not in data:
        out.append(
            "No test set was evaluated: the dev set also picked the best checkpoint, so its score is optimistic."
        )
    train = obj(dig(info.data_stats, "train"))
    cut = train.get("windows_at_max_length")
    if is_number(cut) and cut > 0:
        out.append(
            f"{cut} training inputs reached max_length={train.get('max_length')} tokens and were split "
            "into windows: context across a window boundary is lost."
        )
    return out


def _metric_limits(info: RunInfo) -> list[str]:
    dev = info.split_metrics("dev")
    per = {k: v for k, v in obj(dev.get("per_type") or dev.get("per_class")).items() if isinstance(v, dict)}
    weak = [f"{k} (F1 {v['f1']:.2f})" for k, v in per.items() if is_number(v.get("f1")) and v["f1"] < LOW_F1]
    rare = [
        f"{k} (n={v['support']})"
        for k, v in per.items()
        if is_number(v.get("support")) and v["support"] < LOW_SUPPORT
    ]
    out = []
    if weak:
        out.append(f"Weak on dev (F1 below {LOW_F1}): {', '.join(weak)}.")
    if rare:
        out.append(
            f"Little dev support (under {LOW_SUPPORT}), so these scores are unreliable: {', '.join(rare)}."
        )
    return out


def _lowercases(tokenizer_dir: Path) -> bool:
    """Whether the saved tokenizer lower-cases (a BERT normalizer's flag or do_lower_case)."""
    normalizer = obj(_json(tokenizer_dir / "tokenizer.json").get("normalizer"))
    steps = [normalizer, *(obj(n) for n in seq(normalizer.get("normalizers")))]
    lowered = any(n.get("lowercase") is True or n.get("type") == "Lowercase" for n in steps)
    return lowered or _json(tokenizer_dir / "tokenizer_config.json").get("do_lower_case") is True


def _artifact_limits(info: RunInfo) -> list[str]:
    out = []
    model = info.path / "model"
    config = _json(model / "config.json")
    if config.get("word_shapes"):
        out.append(
            "The tokenizer lower-cases its input, so each word's shape (lower, Capitalised, ALL-CAPS, ...) is "
            "given to the model as token_type_ids (config.json `word_shapes`). rawtune's predict, evaluate, "
            "serve and ONNX export pass them; plain transformers without them reads every word as lower case "
            "and loses accuracy."
        )
    elif any(_lowercases(d) for d in (model, info.path / "adapter")):
        out.append(
            "The tokenizer lower-cases its input: capitalisation (a strong cue for names) is invisible to the model."
        )
    if config.get("crf"):
        out.append(
            "Tags are decoded by a CRF layer (config.json `crf`); its transition scores sit beside the weights "
            "(crf.start, crf.trans), which plain transformers leaves aside (an argmax per word then)."
        )
    if (model / "rawtune_quantized.json").is_file():
        drop = dig(info.metrics, "gate", "metric_drop_points")
        out.append(
            "Weights are int8 (dynamic quantization): outputs differ slightly from the fp32 parent"
            + (f" (dev {info.primary} changed by {-drop:+.2f} points)." if is_number(drop) else ".")
        )
    if (model / "rawtune_onnx.json").is_file():
        out.append(
            "An ONNX graph run by onnxruntime: numerics differ slightly from PyTorch; it needs rawtune's loader or onnxruntime."
        )
    if "auto_map" in _json(model / "config.json"):
        out.append(
            "A pruned architecture: plain transformers loads it only with trust_remote_code=True (code saved in model/)."
        )
    return out


def how_to_load(info: RunInfo) -> str:
    """Code that loads this run: rawtune's Predictor, plain transformers when model/ is a plain
    save_pretrained directory, peft for a PEFT adapter, and the commands."""
    run = str(info.path)
    if info.stage == "pretrain":
        return _pretrained_snippet(info)
    task = info.task_info
    lines = ["import rawtune", "", f"predictor = rawtune.Predictor.from_run({run!r})"]
    if task is not None and task.sample:
        lines.append(f"predictor.predict([{task.sample!r}])")
    auto = task.auto_class_name if task is not None else "AutoModel"
    lines += _transformers_snippet(info.path / "model", auto) + _peft_snippet(info.path / "adapter", auto)
    lines += [
        "",
        "# command line",
        f"# rawtune predict {run} --input texts.txt --output predictions.jsonl",
        f"# rawtune serve {run}",
    ]
    return "\n".join(lines)


def _pretrained_snippet(info: RunInfo) -> str:
    model = str(info.path / "model")
    objective = dig(info.config, "objective", "name") or "mlm"
    auto = "AutoModelForCausalLM" if objective == "clm" else "AutoModelForMaskedLM"
    return "\n".join(
        [
            f"from transformers import {auto}, AutoTokenizer",
            "",
            f"model = {auto}.from_pretrained({model!r})",
            f"tokenizer = AutoTokenizer.from_pretrained({model!r})",
            "",
            "# fine-tune on it:",
            f"# rawtune finetune --task ner --model {info.path} --train train.conll --output runs/ner",
        ]
    )


def _transformers_snippet(model: Path, auto: str) -> list[str]:
    """Only for a plain save_pretrained directory (not int8 or ONNX, which rawtune loads)."""
    config = _json(model / "config.json")
    if not config or any((model / m).is_file() for m in ("rawtune_quantized.json", "rawtune_onnx.json")):
        return []
    remote = ", trust_remote_code=True" if "auto_map" in config else ""
    return [
        "",
        "# plain transformers",
        f"from transformers import {auto}, AutoTokenizer",
        f"model = {auto}.from_pretrained({str(model)!r}{remote})",
        f"tokenizer = AutoTokenizer.from_pretrained({str(model)!r})",
    ]


def _peft_snippet(adapter: Path, auto: str) -> list[str]:
    meta = _json(adapter / "rawtune_adapter.json")
    if meta.get("format") != "peft":
        return []
    base = dig(meta, "base", "ref")
    head = obj(meta.get("head"))
    n = f", num_labels={head['num_labels']}" if is_number(head.get("num_labels")) else ""
    return [
        "",
        "# base model + PEFT adapter (the task head is saved with the adapter)",
        "from peft import PeftModel",
        f"base = {auto}.from_pretrained({str(base or 'BASE_MODEL')!r}{n})",
        f"model = PeftModel.from_pretrained(base, {str(adapter)!r})",
    ]
