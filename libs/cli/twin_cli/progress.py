"""Progress of long jobs: rich progress bars (rate, ETA) on a terminal, plain progress lines when not.

    from twin_cli.progress import progress_reporter

    reporter = progress_reporter()                       # rich on a terminal, lines otherwise
    with reporter.task("embedding chunks", total=9683, unit="chunks") as task:
        for batch in batches:
            ...
            task.advance(len(batch))

Library code takes a `ProgressReporter` argument defaulting to `NULL_PROGRESS` (reports nothing), so the caller
(a CLI) decides how progress is shown. The mode is chosen by `TWIN_PROGRESS` (`rich`, `plain`, `off`) when set,
else by whether the stream (stderr by default) is a terminal. Plain lines go out at most every
`TWIN_PROGRESS_INTERVAL_S` seconds (default 10) plus one at the end of each task, e.g.

    embedding chunks: 1200/9683 chunks (12%), 85.3 chunks/s, elapsed 14s, ETA 1m39s
    embedding chunks: done, 9683 chunks in 1m53s (85.7 chunks/s)
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import IO, Protocol, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

T = TypeVar("T")

MODES = ("rich", "plain", "off")
DEFAULT_INTERVAL_S = 10.0


class ProgressTask(Protocol):
    def advance(self, amount: float = 1) -> None: ...

    def update(
        self, *, completed: float | None = None, total: float | None = None, description: str | None = None
    ) -> None: ...


class ProgressReporter(Protocol):
    def task(
        self, description: str, total: float | None = None, unit: str = "items"
    ) -> contextlib.AbstractContextManager[ProgressTask]: ...


# --- the text of a plain line -------------------------------------------------------------------------


def format_duration(seconds: float) -> str:
    """3s, 1m39s, 2h05m."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _rate(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def progress_line(
    description: str, completed: float, total: float | None, unit: str, elapsed: float, *, done: bool = False
) -> str:
    """One plain progress line (what non-terminals get)."""
    rate = completed / elapsed if elapsed > 0 else 0.0
    if done:
        return (
            f"{description}: done, {_number(completed)} {unit} in {format_duration(elapsed)} ({_rate(rate)} {unit}/s)"
        )
    parts = [f"{_number(completed)}/{_number(total)} {unit}" if total else f"{_number(completed)} {unit}"]
    if total:
        parts[0] += f" ({100 * completed / total:.0f}%)"
    parts.append(f"{_rate(rate)} {unit}/s")
    parts.append(f"elapsed {format_duration(elapsed)}")
    if total and rate > 0 and completed < total:
        parts.append(f"ETA {format_duration((total - completed) / rate)}")
    return f"{description}: " + ", ".join(parts)


# --- reporters ------------------------------------------------------------------------------------------


class _NullTask:
    def advance(self, amount: float = 1) -> None:
        return None

    def update(self, *, completed=None, total=None, description=None) -> None:
        return None


class NullProgress:
    """Reports nothing (library default, `TWIN_PROGRESS=off`)."""

    @contextlib.contextmanager
    def task(self, description: str, total: float | None = None, unit: str = "items") -> Iterator[ProgressTask]:
        yield _NullTask()


NULL_PROGRESS = NullProgress()


class _PlainTask:
    def __init__(self, reporter: PlainProgress, description: str, total: float | None, unit: str):
        self.reporter = reporter
        self.description = description
        self.total = total
        self.unit = unit
        self.completed = 0.0
        self.started = reporter.clock()
        self.last_line = self.started
        self._lock = threading.Lock()

    def advance(self, amount: float = 1) -> None:
        with self._lock:
            self.completed += amount
            self._maybe_print()

    def update(self, *, completed=None, total=None, description=None) -> None:
        with self._lock:
            if completed is not None:
                self.completed = completed
            if total is not None:
                self.total = total
            if description is not None:
                self.description = description
            self._maybe_print()

    def _maybe_print(self) -> None:
        now = self.reporter.clock()
        if now - self.last_line >= self.reporter.interval_s:
            self.last_line = now
            self.reporter.write(
                progress_line(self.description, self.completed, self.total, self.unit, now - self.started)
            )

    def finish(self, failed: bool) -> None:
        elapsed = self.reporter.clock() - self.started
        if failed:
            line = progress_line(self.description, self.completed, self.total, self.unit, elapsed) + " (stopped)"
        else:
            line = progress_line(self.description, self.completed, self.total, self.unit, elapsed, done=True)
        self.reporter.write(line)


class PlainProgress:
    """Plain lines: one when a task starts, one at most every `interval_s` while it runs, one at its end."""

    def __init__(self, stream: IO[str] | None = None, interval_s: float | None = None, clock=time.monotonic):
        self.stream = stream
        self.interval_s = interval_s if interval_s is not None else _interval_from_env()
        self.clock = clock

    def write(self, line: str) -> None:
        stream = self.stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()

    @contextlib.contextmanager
    def task(self, description: str, total: float | None = None, unit: str = "items") -> Iterator[ProgressTask]:
        task = _PlainTask(self, description, total, unit)
        self.write(f"{description}: started" + (f", {_number(total)} {unit}" if total else ""))
        failed = True
        try:
            yield task
            failed = False
        finally:
            task.finish(failed)


class RateColumn(ProgressColumn):
    """`85.3 chunks/s` (rich's TransferSpeedColumn is for bytes only)."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "items")
        return Text("" if speed is None else f"{_rate(speed)} {unit}/s", style="progress.data.speed")


class _RichTask:
    def __init__(self, bars, task_id, unit: str):
        self.bars = bars
        self.task_id = task_id
        self.unit = unit

    def advance(self, amount: float = 1) -> None:
        self.bars.advance(self.task_id, amount)

    def update(self, *, completed=None, total=None, description=None) -> None:
        fields = {"completed": completed, "total": total, "description": description}
        self.bars.update(self.task_id, **{k: v for k, v in fields.items() if v is not None})


class RichProgress:
    """rich progress bars: description, bar, done/total, percent, rate, elapsed, ETA (on a terminal)."""

    def __init__(self, stream: IO[str] | None = None, force_terminal: bool | None = None, width: int | None = None):
        self.console = Console(file=stream or sys.stderr, force_terminal=force_terminal, width=width)

    def _bars(self) -> Progress:
        return Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )

    @contextlib.contextmanager
    def task(self, description: str, total: float | None = None, unit: str = "items") -> Iterator[ProgressTask]:
        bars = self._bars()
        with bars:
            task_id = bars.add_task(description, total=total, unit=unit)
            yield _RichTask(bars, task_id, unit)
            task = bars.tasks[0]
            if task.total is None:
                bars.update(task_id, total=task.completed)


def _interval_from_env() -> float:
    try:
        return float(os.environ.get("TWIN_PROGRESS_INTERVAL_S", DEFAULT_INTERVAL_S))
    except ValueError:
        return DEFAULT_INTERVAL_S


def progress_mode(stream: IO[str] | None = None) -> str:
    """`TWIN_PROGRESS` when set to rich/plain/off, else rich on a terminal and plain otherwise."""
    chosen = os.environ.get("TWIN_PROGRESS", "").strip().lower()
    if chosen in MODES:
        return chosen
    stream = stream or sys.stderr
    try:
        return "rich" if stream.isatty() else "plain"
    except (AttributeError, ValueError):
        return "plain"


def progress_reporter(stream: IO[str] | None = None, mode: str | None = None) -> ProgressReporter:
    """The reporter for a command's output stream (stderr by default, so stdout stays the command's result)."""
    mode = mode or progress_mode(stream)
    if mode == "off":
        return NULL_PROGRESS
    if mode == "rich":
        return RichProgress(stream, force_terminal=True if os.environ.get("TWIN_PROGRESS") == "rich" else None)
    return PlainProgress(stream)


def track(
    items: Iterable[T],
    reporter: ProgressReporter,
    description: str,
    total: float | None = None,
    unit: str = "items",
) -> Iterator[T]:
    """Yield the items, advancing a task by one for each."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with reporter.task(description, total=total, unit=unit) as task:
        for item in items:
            yield item
            task.advance()
