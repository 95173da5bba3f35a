"""`rawtune selftrain`: named flags are shortcuts for config keys; --a.b=v sets any other key."""

from __future__ import annotations

import argparse

from rawtune.cli.overrides import (
    add_config_flag,
    add_progress_flag,
    add_resume_flag,
    add_threads_flag,
    set_handler,
    stage_config,
)

SHORTCUTS = {
    "task": "task.name",
    "model": "model.name_or_path",
    "teacher": "teacher",
    "train": "data.train",
    "dev": "data.dev",
    "test": "data.test",
    "unlabeled": "unlabeled",
    "rounds": "rounds",
    "output": "output",
    "seed": "seed",
    "threshold": "select.threshold",
    "pseudo_weight": "student.weight",
    "student_dropout": "student.dropout",
    "max_unlabeled": "max_unlabeled",
    "text_column": "data.text_column",
    "label_column": "data.label_column",
    "tag_column": "data.tag_column",
    "text_field": "raw_text.text_field",
    "method": "tuning.method",
    "epochs": "train.epochs",
    "lr": "train.lr",
}


DESCRIPTION = (
    "Self-training on raw text (ner, single-label classification). Round 0 is the teacher: "
    "fine-tuned on --train (or --teacher, a finished run). Each round, the last model labels the "
    "--unlabeled text (split into sentences for NER, into words as predict splits raw text), the "
    "confident predictions are kept (OUTPUT/pseudo/round-N.conll or .csv, and round-N.json with "
    "their statistics), and a student is fine-tuned from --model on the gold data plus them "
    "(OUTPUT/round-N/), then on the gold data alone (OUTPUT/round-N-gold/, the round's model; "
    "--student.finish_on_gold false skips it). OUTPUT/selftrain.json lists the rounds, their dev "
    "metric and the best round."
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "selftrain",
        help="self-training: a teacher labels raw text, students learn from gold + confident labels",
        description=DESCRIPTION,
        epilog="Any config key is a flag too: --select.per_label=2 --raw_text.document=paragraph "
        "--train.progress false. See 'rawtune config show selftrain' for every key and its default.",
    )
    add_config_flag(p)
    p.add_argument("--task", metavar="ner|classification", help="the task (classification: single-label)")
    p.add_argument(
        "--model",
        metavar="ID|DIR|RUN",
        help="backbone of the teacher and every student: hub id, save_pretrained dir or run dir "
        "(default with --teacher: the teacher's own backbone)",
    )
    p.add_argument(
        "--teacher", metavar="RUN", help="a finished run to start from instead of fine-tuning one (round 0)"
    )
    p.add_argument("--train", metavar="FILE", help="labeled training data (.conll/.jsonl; .csv/.tsv/.jsonl)")
    p.add_argument("--dev", metavar="FILE", help="development data: picks each run's and the best round")
    p.add_argument("--test", metavar="FILE", help="test data, evaluated once by each round's run")
    p.add_argument(
        "--unlabeled",
        nargs="+",
        metavar="PATH",
        help="raw text: files, dirs, globs (quoted), hf:NAME[:CONFIG]; .txt .jsonl .csv .parquet, .gz",
    )
    p.add_argument("--rounds", type=int, metavar="N", help="students trained, each labeling for the next (1)")
    p.add_argument("--output", metavar="DIR", help="directory to create for every round and selftrain.json")
    p.add_argument("--seed", type=int, help="seed of every run and of the sampling (42)")
    p.add_argument(
        "--threshold",
        type=float,
        metavar="P",
        help="keep a prediction at this confidence (NER: every entity's score; classification: the top "
        "class probability) (0.9)",
    )
    p.add_argument(
        "--pseudo-weight",
        dest="pseudo_weight",
        type=float,
        metavar="W",
        help="loss weight of a pseudo-labeled example; a gold one counts 1 (0.5)",
    )
    p.add_argument(
        "--student-dropout",
        dest="student_dropout",
        type=float,
        metavar="P",
        help="the student's hidden dropout, its noise (0.2)",
    )
    p.add_argument(
        "--max-unlabeled", dest="max_unlabeled", type=int, metavar="N", help="label at most N units (20000)"
    )
    p.add_argument("--text-column", dest="text_column", metavar="NAME", help="classification: text column")
    p.add_argument("--label-column", dest="label_column", metavar="NAME", help="classification: label column")
    p.add_argument("--tag-column", dest="tag_column", type=int, metavar="N", help="CoNLL tag column")
    p.add_argument(
        "--text-field",
        dest="text_field",
        metavar="NAME",
        help="field of the raw text in .jsonl/.csv/.parquet",
    )
    p.add_argument("--method", metavar="full|lora|...", help="tuning method of every run (full)")
    p.add_argument("--epochs", type=float, help="epochs of every run")
    p.add_argument("--lr", type=float, help="peak learning rate of every run")
    add_resume_flag(
        p,
        "continue OUTPUT: finished rounds and verified pseudo-labels are reused, an interrupted round "
        "resumes from its checkpoint",
    )
    add_threads_flag(p)
    add_progress_flag(p)
    set_handler(p, handle)


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    from rawtune.stages.selftrain import run_selftrain

    cfg = stage_config("selftrain", args, extra, SHORTCUTS)
    result = run_selftrain(cfg, resume=args.resume)
    s = result.summary
    for r in s["rounds"]:
        labels = r.get("pseudo_labels")
        extra_text = f"  {labels['kept']} of {labels['seen']} pseudo-labeled" if labels else ""
        print(
            f"round {r['round']}  dev {s['metric']} {r['dev'].get(s['metric'], float('nan')):.4f}  {r['run']}{extra_text}"
        )
    print(f"best: round {s['best']['round']}")
    print(result.best)
    return 0
