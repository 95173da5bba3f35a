"""The reliability suite's cases as data: each row is one scenario, run by a test module and counted
by benchmarks/reliability_report.py. Kept free of pytest so the report script can import it."""

from __future__ import annotations

from dataclasses import dataclass

# --- kill / resume ------------------------------------------------------------------------------
# Every stage config trains 12 steps, checkpoints every 3 (steps 3, 6, 9; never the last step) and
# evaluates every 3, so "the newest complete checkpoint at the kill" is known for every kill point.
TOTAL_STEPS, SAVE_EVERY = 12, 3
EXIT = {"kill": -9, "torn": -9, "term": -15, "int": 130, "enospc": 2}


@dataclass(frozen=True)
class KillCase:
    stage: str  # a key of STAGES (tests/reliability/conftest.py builds its flags)
    fault: str  # RAWTUNE_FAULT: POINT[#N][=ACTION] (src/rawtune/runs/faults.py)
    resumed_from: int  # the checkpoint --resume must pick
    torn: bool = False  # the kill leaves a torn checkpoint (temp dir) behind

    @property
    def id(self) -> str:
        return f"{self.stage}-{self.fault}".replace("#", "-").replace("=", "-")

    @property
    def action(self) -> str:
        return self.fault.partition("=")[2] or "kill"


def _metrics_line(step: int, *, eval_before: bool) -> int:
    """The metrics.jsonl line number of step `step`'s train record (log_steps 1, eval every 3)."""
    return int(eval_before) + step + (step - 1) // SAVE_EVERY


STAGES = ("mlm", "ner", "cls", "ner-lora")


def _common(stage: str) -> list[KillCase]:
    """The kill points every stage is put through."""
    return [
        KillCase(stage, "step#5=kill", 3),  # between checkpoints
        KillCase(stage, "checkpoint.payload#2=kill", 3, torn=True),  # mid-checkpoint: weights, no optimizer
        KillCase(stage, "run.finish=kill", 9),  # model written, not yet marked complete
    ]


def _full(stage: str) -> list[KillCase]:
    """And those the full fine-tuning / pretraining stages get besides."""
    return [
        KillCase(stage, "checkpoint.sealed#2=kill", 3, torn=True),  # complete temp dir, not renamed
        KillCase(stage, "checkpoint.payload#3=torn", 6, torn=True),  # model.safetensors cut mid-file
        KillCase(stage, "step#8=term", 6),
        KillCase(stage, f"metrics.write#{_metrics_line(7, eval_before=True)}=kill", 6),  # a torn last line
    ]


KILL_CASES: list[KillCase] = [
    *_common("mlm"),
    *_full("mlm"),
    KillCase("mlm", "step#6=kill", 6),  # just after a checkpoint
    KillCase("mlm", "checkpoint.renamed#2=kill", 6),  # renamed, older ones not yet pruned
    KillCase("mlm", "eval#2=kill", 3),  # during the step-6 evaluation
    KillCase("mlm", "step#4=int", 3),  # Ctrl-C: the run is marked failed, exit 130
    KillCase("mlm", "checkpoint.payload#2=enospc", 3),  # disk full mid-checkpoint: exit 2
    KillCase("mlm", f"metrics.write#{_metrics_line(10, eval_before=True)}=enospc", 9),
    *_common("ner"),
    *_full("ner"),
    KillCase("ner", "eval#3=term", 6),
    KillCase("ner", "step#11=int", 9),
    KillCase("ner", "checkpoint.sealed#3=enospc", 6),
    *_common("cls"),
    KillCase("cls", f"metrics.write#{_metrics_line(7, eval_before=True)}=kill", 6),
    *_common("ner-lora"),
]

# a kill before the first checkpoint: --resume refuses (exit 2, naming the checkpoints folder) and
# leaves the run as it was; a new run is the way on
REFUSED_CASES: list[KillCase] = [KillCase("mlm", "step#2=kill", 0), KillCase("ner", "eval#1=kill", 0)]
