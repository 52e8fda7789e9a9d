"""Where a run's code came from (recorded with every training run)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git_sha() -> str:
    """The commit of the running code: TWIN_GIT_SHA (set in images), else `git rev-parse HEAD`, else "unknown"."""
    if os.environ.get("TWIN_GIT_SHA"):
        return os.environ["TWIN_GIT_SHA"]
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
        ).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


def git_dirty() -> bool:
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout
        return bool(out.strip())
    except (subprocess.CalledProcessError, FileNotFoundError):
        return False
