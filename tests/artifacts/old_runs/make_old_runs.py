"""Write the finished runs in this folder with the rawtune of the day, and what that rawtune predicts
and scores on them (`expected.json`), so `test_old_runs.py` can prove a later rawtune still loads
them and gives the same answers. Re-run only on purpose (a new format to cover): the point of the
files is that they were written by older code.

    PYTHONPATH=src python tests/artifacts/old_runs/make_old_runs.py

Runs (on a 2-layer, hidden-32 BERT built from a config, as tests/conftest.py builds its backbone):
  backbone/      the base model (LoRA and bottleneck adapters load onto it)
  ner/           full fine-tuning, NER: RUN/model/ (save_pretrained)
  cls-lora/      classification with a peft LoRA adapter: RUN/adapter/ + the merged RUN/model/
  cls-adapter/   classification with rawtune's own bottleneck adapter: RUN/adapter/ only
  ner-int8/      `rawtune compress ner --quantize int8`: dynamic int8 RUN/model/
  ner-pruned/    `rawtune compress ner --prune heads:0.5,ffn:0.25`: a per-layer pruned RUN/model/
Checkpoints and training logs are dropped (nothing loads them) to keep the folder small."""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # tests/: conftest's tiny configs and data

from conftest import review, tiny_ner_config  # noqa: E402

NER_TEXTS = ["Maria Lopez flew to Paris on Monday.", "The bank in Berlin hired John Smith.", ""]
NER_WORDS = [["Maria", "Lopez", "flew", "to", "Paris", "."], ["Berlin"]]
CLS_TEXTS = ["the film was good and great", "the meal was awful and dull", "the show was fine"]
DROP = ("checkpoints", "logs", "eval", "report.html")
COMPRESS = ["--measure.repeats", "1", "--measure.probe_examples", "8", "--max-metric-drop", "100"]


def backbone(root: Path, ner: dict[str, Path]) -> Path:
    """conftest.tiny_backbone, with a smaller vocabulary."""
    import torch
    from transformers import BertConfig, BertModel

    from rawtune.modeling.backbone import load_tokenizer
    from rawtune.modeling.tokenizers import train_tokenizer

    text = root / "text.txt"
    rng = random.Random(0)
    lines = [ner["raw"].read_text(), *(review(rng, lab) for lab in ("pos", "neg") * 20)]
    text.write_text("\n".join(lines) + "\n")
    train_tokenizer([str(text)], root / "tok", type="wordpiece", vocab_size=300, min_frequency=1)
    tok = load_tokenizer(str(root / "tok"))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=tok.pad_token_id,
    )
    out = HERE / "backbone"
    BertModel(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def cls_data(root: Path) -> dict[str, Path]:
    import csv

    out = {}
    for split, n in (("train", 48), ("dev", 16)):
        rng = random.Random(split)
        out[split] = root / f"{split}.csv"
        with open(out[split], "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "text", "label"])
            for i in range(n):
                label = "pos" if i % 2 else "neg"
                w.writerow([i, review(rng, label), label])
    return out


def finetune(base: Path, ner: dict[str, Path], cls: dict[str, Path]) -> None:
    from rawtune.stages.finetune import run_finetune

    run_finetune(tiny_ner_config(HERE / "ner", base, ner))
    for name, method in (("cls-lora", "lora"), ("cls-adapter", "adapter")):
        run_finetune(
            {
                "output": str(HERE / name),
                "seed": 3,
                "model": {"name_or_path": str(base)},
                "task": {"name": "classification"},
                "data": {"train": str(cls["train"]), "dev": str(cls["dev"])},
                "tuning": {"method": method},
                "train": {"max_steps": 8, "eval_steps": 4, "save_steps": 4, "batch_size": 8, "lr": 3e-3}
                | {"threads": 1, "progress": False},
            }
        )


def compress() -> None:
    from rawtune.cli.main import main

    ner = str(HERE / "ner")
    assert main(["compress", ner, "--quantize", "int8", "--output", str(HERE / "ner-int8"), *COMPRESS]) == 0
    prune = ["--prune", "heads:0.5,ffn:0.25", "--output", str(HERE / "ner-pruned"), *COMPRESS]
    assert main(["compress", ner, *prune]) == 0


def expected() -> dict:
    """What this rawtune predicts on each run (Predictor.from_run; the adapter runs also as base +
    adapter through from_runs) and scores with rawtune.evaluate on the stored dev files."""
    import rawtune

    base = str(HERE / "backbone")
    out: dict = {"predict": {}, "evaluate": {}}
    for run, inputs in (
        ("ner", NER_TEXTS + NER_WORDS),
        ("ner-int8", NER_TEXTS),
        ("ner-pruned", NER_TEXTS),
        ("cls-lora", CLS_TEXTS),
        ("cls-adapter", CLS_TEXTS),
    ):
        out["predict"][run] = {
            "inputs": inputs,
            "from_run": rawtune.Predictor.from_run(HERE / run).predict(inputs),
        }
    for run in ("cls-lora", "cls-adapter"):
        pred = rawtune.Predictor.from_runs({run: HERE / run}, base=base)
        out["predict"][run]["adapter_on_base"] = pred.predict(CLS_TEXTS)
    with tempfile.TemporaryDirectory() as tmp:  # evaluate writes RUN/eval/: on copies
        for run, data in (("ner", "dev.conll"), ("ner-int8", "dev.conll"), ("cls-lora", "dev.csv")):
            copy = Path(tmp) / run
            shutil.copytree(HERE / run, copy)
            out["evaluate"][run] = {"data": data, "metrics": rawtune.evaluate(str(copy), str(HERE / data))}
    return out


def slim(run: Path) -> None:
    for name in DROP:
        target = run / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def main() -> None:
    from rawtune.samples.synthetic_ner import write

    for old in HERE.iterdir():
        if old.is_dir() and old.name != "__pycache__":
            shutil.rmtree(old)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ner = write(root / "ner", sizes={"train": 64, "dev": 24, "test": 24})
        cls = cls_data(root)
        shutil.copy(ner["dev"], HERE / "dev.conll")
        shutil.copy(cls["dev"], HERE / "dev.csv")
        base = backbone(root, ner)
        finetune(base, ner, cls)
        compress()  # reads the parent's data
    for run in HERE.iterdir():
        if run.is_dir() and run.name != "backbone":
            slim(run)
    text = json.dumps(expected(), indent=1, ensure_ascii=False, sort_keys=True)
    (HERE / "expected.json").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
