"""Fake services with the node's contract, for tests/unit/node: `async def run(settings, vector_store=None)`
serving a real uvicorn server, and writing what they saw and how they stopped into marker files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict
from twin_common.settings import ServiceSettings


class FakeSettings(ServiceSettings):
    store_path: Path | None = None
    marker_dir: Path = Path(".")
    crash_after_s: float | None = None


class SettingsA(FakeSettings):
    model_config = SettingsConfigDict(env_prefix="FAKE_A_")
    service_name: str = "a"


class SettingsB(FakeSettings):
    model_config = SettingsConfigDict(env_prefix="FAKE_B_")
    service_name: str = "b"


async def run(settings: FakeSettings, vector_store=None) -> None:
    marker = settings.marker_dir / settings.service_name
    marker.with_suffix(".store").write_text(str(id(vector_store)) if vector_store is not None else "none")
    app = FastAPI()

    @app.get("/readyz")
    def ready() -> dict:
        return {"status": "ready"}

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.http_port, log_config=None))

    async def crash() -> None:
        while not server.started:
            await asyncio.sleep(0.05)
        marker.with_suffix(".started").write_text("yes")
        if settings.crash_after_s is None:
            return
        await asyncio.sleep(settings.crash_after_s)
        raise RuntimeError(f"{settings.service_name} crashed on purpose")

    try:
        await asyncio.gather(server.serve(), crash())
    finally:
        marker.with_suffix(".stopped").write_text("graceful" if server.should_exit else "cancelled")
