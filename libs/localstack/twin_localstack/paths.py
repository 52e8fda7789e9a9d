"""Where the local stack keeps its data, logs, pid files and downloaded artifacts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic_settings import BaseSettings
from twin_common.settings import repo_root

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


@dataclass(frozen=True)
class StackPaths:
    """All state of one local stack lives under `home` (default: <repo>/.local); caches live outside the repo."""

    home: Path
    cache: Path

    @classmethod
    def default(cls) -> StackPaths:
        home = Path(os.environ.get("TWIN_STACK_HOME", repo_root() / ".local"))
        cache = Path(os.environ.get("TWIN_CACHE_DIR", Path.home() / ".cache" / "twin"))
        return cls(home=home.resolve(), cache=cache.resolve())

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def conf(self) -> Path:
        return self.home / "conf"

    @property
    def jars(self) -> Path:
        return self.cache / "jars"

    @property
    def env_file(self) -> Path:
        """Generated settings (credentials), read by every settings object after the environment
        (the same file as twin_common.settings.local_env_file() for the default home)."""
        return self.home / "stack.env"

    def settings(self, cls: type[SettingsT], **values) -> SettingsT:
        """A settings object read from the environment, then this stack's env file."""
        return cls(_env_file=self.env_file, **values)

    def ensure(self) -> None:
        for path in (self.data, self.logs, self.run, self.conf, self.jars):
            path.mkdir(parents=True, exist_ok=True)
