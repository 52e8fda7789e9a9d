"""`twin ingest` of a large folder shows its progress: a rich bar with rate and ETA on a terminal, plain progress
lines when its output is not a terminal; the report stays on stdout either way."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from terminal_support import plain_text, run_on_terminal

REPO = Path(__file__).resolve().parents[3]
FILES = 400


def write_folder(root: Path) -> Path:
    folder = root / "notes"
    for i in range(FILES):
        sub = folder / f"part-{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"note-{i:04d}.md").write_text(f"# Note {i}\n\nA short note number {i} about bees and hives.\n")
    (folder / ".hidden.md").write_text("# not material\n")
    return folder


def command(folder: Path, dsn: str, *extra: str) -> list[str]:
    argv = [sys.executable, "-m", "twin_cli.main", "ingest", str(folder), "--author", "Ada", "--tenant", "progress"]
    return [*argv, "--dsn", dsn, *extra]


def test_plain_progress_lines_when_not_a_terminal(tmp_path, source_dsn):
    folder = write_folder(tmp_path)
    env = {**os.environ, "TWIN_PROGRESS_INTERVAL_S": "0"}  # a line per document: the lines themselves are tested
    env.pop("TWIN_PROGRESS", None)
    result = subprocess.run(command(folder, source_dsn, "--json"), capture_output=True, text=True, env=env, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["stored"] == FILES  # stdout holds the report only
    lines = [line for line in result.stderr.splitlines() if line.startswith("importing: ")]
    assert lines[0] == f"importing: started, {FILES} documents"
    assert re.fullmatch(
        rf"importing: 200/{FILES} documents \(50%\), [\d.]+ documents/s, elapsed \d+s(, ETA \d+(m\d\d)?s)?",
        lines[200],
    ), lines[200]
    assert re.fullmatch(rf"importing: done, {FILES} documents in \d+(m\d\d)?s \([\d.]+ documents/s\)", lines[-1])
    assert "\x1b[" not in result.stderr


def test_a_progress_bar_with_rate_and_eta_on_a_terminal(tmp_path, source_dsn):
    folder = write_folder(tmp_path)
    code, output = run_on_terminal(command(folder, source_dsn), dict(os.environ), timeout=300, cwd=REPO)
    assert code == 0, output[-3000:]
    assert "\x1b[" in output  # drawn, not printed line by line
    text = plain_text(output)
    assert re.search(rf"importing .*{FILES}/{FILES} +100%", text), text[-2000:]
    assert re.search(r"[\d.]+ documents/s", text)
    assert "ETA" in text
    assert f"stored {FILES}, updated 0, unchanged 0, rejected 0" in text  # the report after the bar
