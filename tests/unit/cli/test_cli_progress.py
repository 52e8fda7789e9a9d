"""Progress of long jobs in both modes: rich bars with rate and ETA on a terminal, plain lines otherwise."""

from __future__ import annotations

import io
import re

import pytest
from twin_cli.progress import (
    NULL_PROGRESS,
    PlainProgress,
    RichProgress,
    format_duration,
    progress_line,
    progress_mode,
    progress_reporter,
    track,
)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_durations_read_like_people_write_them():
    assert format_duration(3.2) == "3s"
    assert format_duration(99) == "1m39s"
    assert format_duration(2 * 3600 + 5 * 60 + 9) == "2h05m"


def test_a_plain_line_has_count_percent_rate_elapsed_and_eta():
    line = progress_line("embedding chunks", 1200, 9683, "chunks", elapsed=14.0)
    assert line == "embedding chunks: 1200/9683 chunks (12%), 85.7 chunks/s, elapsed 14s, ETA 1m39s"
    unknown_total = progress_line("files", 40, None, "files", elapsed=4.0)
    assert unknown_total == "files: 40 files, 10.0 files/s, elapsed 4s"
    assert progress_line("files", 40, None, "files", 4.0, done=True) == "files: done, 40 files in 4s (10.0 files/s)"


def test_plain_mode_prints_start_throttled_lines_and_the_end():
    out, clock = io.StringIO(), FakeClock()
    reporter = PlainProgress(out, interval_s=5, clock=clock)
    with reporter.task("embedding chunks", total=100, unit="chunks") as task:
        for _ in range(10):
            clock.now += 1  # 10 advances over 10 s: two lines at most, not ten
            task.advance(5)
    lines = out.getvalue().splitlines()
    assert lines[0] == "embedding chunks: started, 100 chunks"
    assert lines[1] == "embedding chunks: 25/100 chunks (25%), 5.0 chunks/s, elapsed 5s, ETA 15s"
    assert lines[2] == "embedding chunks: 50/100 chunks (50%), 5.0 chunks/s, elapsed 10s, ETA 10s"
    assert lines[3] == "embedding chunks: done, 50 chunks in 10s (5.0 chunks/s)"
    assert len(lines) == 4
    assert "\x1b[" not in out.getvalue()  # no terminal control codes in a log


def test_plain_mode_says_when_a_task_stopped_early():
    out, clock = io.StringIO(), FakeClock()
    with pytest.raises(RuntimeError):
        with PlainProgress(out, interval_s=60, clock=clock).task("files", total=10, unit="files") as task:
            clock.now += 2
            task.advance(3)
            raise RuntimeError("disk full")
    assert out.getvalue().splitlines()[-1] == "files: 3/10 files (30%), 1.5 files/s, elapsed 2s, ETA 5s (stopped)"


def test_terminal_mode_draws_a_bar_with_rate_and_eta():
    out = io.StringIO()
    reporter = RichProgress(out, force_terminal=True, width=140)
    with reporter.task("embedding chunks", total=200, unit="chunks") as task:
        for _ in range(4):
            task.advance(25)
        task.update(description="embedding chunks (batch 4)")
    text = out.getvalue()
    assert "\x1b[" in text  # drawn with terminal control codes
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert "embedding chunks" in plain
    assert "100/200" in plain and "50%" in plain
    assert re.search(r"[\d.]+ chunks/s", plain), plain[-500:]
    assert "ETA" in plain and re.search(r"\d+:\d\d:\d\d", plain)  # elapsed / remaining clocks


def test_the_mode_follows_the_stream_unless_set(monkeypatch):
    monkeypatch.delenv("TWIN_PROGRESS", raising=False)
    assert progress_mode(Tty()) == "rich"
    assert progress_mode(io.StringIO()) == "plain"
    assert isinstance(progress_reporter(io.StringIO()), PlainProgress)
    assert isinstance(progress_reporter(Tty()), RichProgress)
    monkeypatch.setenv("TWIN_PROGRESS", "plain")
    assert progress_mode(Tty()) == "plain"
    monkeypatch.setenv("TWIN_PROGRESS", "off")
    assert progress_reporter(Tty()) is NULL_PROGRESS


def test_track_counts_what_it_yields():
    out = io.StringIO()
    items = list(track(range(7), PlainProgress(out, interval_s=3600), "rows", unit="rows"))
    assert items == list(range(7))
    assert out.getvalue().splitlines() == ["rows: started, 7 rows", out.getvalue().splitlines()[-1]]
    assert out.getvalue().splitlines()[-1].startswith("rows: done, 7 rows in ")
