"""Observe-only callbacks: they see step results and evaluations, and change nothing."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from rawtune.train.loop import StepResult

log = logging.getLogger("rawtune")


class Callback(Protocol):
    def on_start(self, state: dict[str, Any]) -> None: ...  # before the first step (of this process)
    def on_step(self, result: StepResult, state: dict[str, Any]) -> None: ...
    def on_eval(self, step: int, metrics: dict[str, Any]) -> None: ...
    def on_end(self, state: dict[str, Any]) -> None: ...


class ProgressBar:
    """tqdm bar with loss, lr, tokens/s and ETA (tqdm computes the ETA from the step rate); `name`:
    the phase of a run trained in several, shown before the bar."""

    def __init__(self, total: int, start: int, enabled: bool, name: str | None = None):
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=total, initial=start, disable=not enabled, unit="step", dynamic_ncols=True, desc=name
        )

    def on_start(self, state: dict[str, Any]) -> None:
        pass

    def on_step(self, result: StepResult, state: dict[str, Any]) -> None:
        tps = result.tokens / result.seconds if result.seconds > 0 else 0.0
        self.bar.set_postfix(
            loss=f"{result.loss:.4f}", lr=f"{result.lr:.2e}", tok_s=f"{tps:,.0f}", refresh=False
        )
        self.bar.update(1)

    def on_eval(self, step: int, metrics: dict[str, Any]) -> None:
        self.bar.write(
            f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        )

    def on_end(self, state: dict[str, Any]) -> None:
        self.bar.close()


class TensorBoard:
    """Writes scalars to RUN/logs/ when tensorboard is installed (extra `tensorboard`)."""

    def __init__(self, logdir: str):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(logdir)

    @classmethod
    def maybe(cls, logdir: str) -> TensorBoard | None:
        try:
            return cls(logdir)
        except ImportError:
            return None

    def on_start(self, state: dict[str, Any]) -> None:
        pass

    def on_step(self, result: StepResult, state: dict[str, Any]) -> None:
        self.writer.add_scalar("train/loss", result.loss, result.step)
        self.writer.add_scalar("train/lr", result.lr, result.step)
        if result.seconds > 0:
            self.writer.add_scalar("train/tokens_per_s", result.tokens / result.seconds, result.step)

    def on_eval(self, step: int, metrics: dict[str, Any]) -> None:
        for k, v in metrics.items():
            if isinstance(v, float):
                self.writer.add_scalar(f"eval/{k}", v, step)

    def on_end(self, state: dict[str, Any]) -> None:
        self.writer.close()
