"""RegistryWatcher routes ModelRegistered events to the models they concern and survives junk."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from twin_common.events import ModelRegistered
from twin_inference.watcher import RegistryWatcher


@dataclass
class FakeModel:  # the part of VersionedModel the watcher uses
    name: str
    registered_name: str
    alias: str = "champion"
    refreshes: int = 0

    async def refresh(self) -> bool:
        self.refreshes += 1
        return True


def _event(name: str, alias: str | None = "champion") -> bytes:
    return ModelRegistered(model_name=name, version="3", alias=alias, model_uri=f"models:/{name}/3").to_bytes()


def test_events_refresh_only_the_matching_model_and_alias():
    embed, rerank = FakeModel("twin-embed", "reg-embed"), FakeModel("twin-rerank", "reg-rerank")
    watcher = RegistryWatcher([embed, rerank], bootstrap_servers=None, topic="t", poll_interval_s=60)

    async def feed():
        await watcher.handle(_event("reg-rerank"))
        await watcher.handle(_event("reg-rerank", alias=None))  # a new version, no alias named: check anyway
        await watcher.handle(_event("reg-rerank", alias="challenger"))  # another alias: not ours
        await watcher.handle(_event("someone-else"))

    asyncio.run(feed())
    assert (embed.refreshes, rerank.refreshes) == (0, 2)
    assert watcher.events_seen == 4


def test_messages_that_are_not_events_are_skipped():
    model = FakeModel("twin-embed", "reg-embed")
    watcher = RegistryWatcher([model], bootstrap_servers=None, topic="t", poll_interval_s=60)

    async def feed():
        for junk in (b"", None, b"not json", b'{"model_name": "reg-embed"}'):
            await watcher.handle(junk)
        await watcher.handle(_event("reg-embed"))

    asyncio.run(feed())
    assert model.refreshes == 1 and watcher.events_seen == 1


def test_the_alias_poll_refreshes_every_model_periodically():
    models = [FakeModel("a", "ra"), FakeModel("b", "rb")]
    watcher = RegistryWatcher(models, bootstrap_servers=None, topic="t", poll_interval_s=0.01)

    async def run_briefly():
        task = asyncio.create_task(watcher.run())
        for _ in range(200):
            await asyncio.sleep(0.01)
            if all(m.refreshes >= 3 for m in models):
                break
        task.cancel()

    asyncio.run(run_briefly())
    assert all(m.refreshes >= 3 for m in models)
