"""Progress of a run: stage lines and per-step training metrics, as plain log lines or rich progress bars."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import Protocol

log = logging.getLogger("twin_trainer.llm")


class Progress(Protocol):
    def stage(self, name: str) -> contextlib.AbstractContextManager[None]: ...

    def info(self, message: str) -> None: ...

    def step(self, phase: str, step: int, total: int, metrics: dict[str, float]) -> None: ...


_SHOWN = ("loss", "grad_norm", "learning_rate", "rewards/margins", "rewards/accuracies")


def _metrics_text(metrics: dict[str, float]) -> str:
    return " ".join(f"{k}={metrics[k]:.4g}" for k in _SHOWN if k in metrics)


class LineProgress:
    """One log line per stage and per training step (services, Jobs, non-terminals)."""

    def __init__(self, logger: logging.Logger = log):
        self.log = logger

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        self.log.info("[%s] started", name)
        yield
        self.log.info("[%s] done in %.1f s", name, time.perf_counter() - started)

    def info(self, message: str) -> None:
        self.log.info("%s", message)

    def step(self, phase: str, step: int, total: int, metrics: dict[str, float]) -> None:
        self.log.info("[%s] step %d/%d %s", phase, step, total, _metrics_text(metrics))


class RichProgress:
    """Rich progress bars for the CLI on a terminal: one per training phase, stage lines above them."""

    def __init__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=self.console,
        )
        self.tasks: dict[str, int] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        self.console.print(f"[bold]{name}[/bold] ...")
        with self.bars:
            yield
        self.console.print(f"[bold]{name}[/bold] done in {time.perf_counter() - started:.1f} s")

    def info(self, message: str) -> None:
        self.console.print(f"  {message}", highlight=False)

    def step(self, phase: str, step: int, total: int, metrics: dict[str, float]) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.bars.add_task(phase.upper(), total=max(total, 1), metrics="")
        self.bars.update(self.tasks[phase], completed=step, total=max(total, 1), metrics=_metrics_text(metrics))


def default_progress() -> Progress:
    return RichProgress() if sys.stderr.isatty() else LineProgress()
