"""Where the terminal commands find the gateway and the API key.

Key: `TWIN_API_KEY`, else the config file written by `twin login`. Gateway: `--gateway`, else `TWIN_GATEWAY_URL`,
else the config file, else the local stack's gateway (127.0.0.1:8100 + TWIN_LOCAL_PORT_OFFSET). The config file is
`TWIN_CONFIG` when set, else `$XDG_CONFIG_HOME/twin/config.json` (`~/.config/twin/config.json`), written with mode
0600 because it holds the key. The key is never taken from the command line (it would show in `ps` and the shell's
history)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from twin_common.settings import LOCAL_GATEWAY_PORT

DEFAULT_GATEWAY = f"http://127.0.0.1:{LOCAL_GATEWAY_PORT}"


def config_path() -> Path:
    if os.environ.get("TWIN_CONFIG"):
        return Path(os.environ["TWIN_CONFIG"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "twin" / "config.json"


@dataclass(frozen=True)
class ClientConfig:
    gateway_url: str
    api_key: str | None
    key_source: str  # "TWIN_API_KEY", the config file's path, or "none"

    @classmethod
    def load(cls, gateway_url: str | None = None) -> ClientConfig:
        stored = read_config()
        key, source = os.environ.get("TWIN_API_KEY"), "TWIN_API_KEY"
        if not key:
            key, source = stored.get("api_key"), str(config_path())
        if not key:
            source = "none"
        url = gateway_url or os.environ.get("TWIN_GATEWAY_URL") or stored.get("gateway_url") or DEFAULT_GATEWAY
        return cls(url.rstrip("/"), key or None, source)


def read_config() -> dict:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_config(gateway_url: str, api_key: str, **extra) -> Path:
    """Write the config (the gateway's address and the key), readable by its owner only."""
    path = config_path()
    write_config_raw(path, {**read_config(), "gateway_url": gateway_url, "api_key": api_key, **extra})
    return path


def forget_key() -> Path | None:
    """Remove the key from the config file (`twin login --logout`); None when it held none."""
    path = config_path()
    data = read_config()
    if "api_key" not in data:
        return None
    del data["api_key"]
    write_config_raw(path, data)
    return path


def write_config_raw(path: Path, data: dict) -> None:
    """Atomically, with mode 0600 from the start (the key is never readable by others, not even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
