"""Test tiers by folder: tests/unit (no servers), tests/integration and tests/e2e (real local stack).

The integration and e2e tiers start the local stack's backing servers themselves (session fixture
`local_stack`: PostgreSQL, Kafka, Connect, Redis, MLflow) and stop them at the end if this run started them.
Tests that need the platform's own services as processes (migrations, cdc, inference, ingest, the
embedder+gateway node, monitor; inference alone loads ~1 GB of models) ask for `platform_stack` instead
(the e2e tier). TWIN_KEEP_STACK=1 leaves whatever was started running for the next run. Tiers run in the
order unit, integration, e2e, so the platform's services are up only for the last tier.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

TIERS = ("unit", "integration", "e2e")


def _service_token_for_this_run() -> None:
    """Internal services refuse tenant data without TWIN_SERVICE_TOKEN (twin_common.service_auth). When neither the
    environment nor the local stack's stack.env has one, draw the stack's credentials now (what its first start
    does), so this run, the services it starts and a stack kept for the next run (TWIN_KEEP_STACK) agree."""
    from twin_common.settings import InternalAuthSettings

    if InternalAuthSettings().service_token is None:
        from twin_localstack.credentials import ensure_credentials
        from twin_localstack.paths import StackPaths

        ensure_credentials(StackPaths.default())


_service_token_for_this_run()


def _tier(item: pytest.Item, root: Path) -> str | None:
    parts = Path(item.fspath).relative_to(root).parts
    return parts[0] if parts and parts[0] in TIERS else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    for item in items:
        tier = _tier(item, root)
        if tier:
            item.add_marker(getattr(pytest.mark, tier))
    # unit first (fast feedback), e2e last (it starts the platform's services once, for the end of the run)
    items.sort(key=lambda item: TIERS.index(_tier(item, root) or "unit"))


@pytest.fixture(scope="session")
def local_stack():
    """The local stack with its backing servers running (started for this session unless they already run)."""
    from twin_localstack import Stack

    stack = Stack()
    started_here = not stack.healthy(groups=["servers"])
    if started_here:
        stack.up(groups=["servers"])
    yield stack
    if started_here and os.environ.get("TWIN_KEEP_STACK") != "1":
        stack.down(groups=["servers"])


@pytest.fixture(scope="session")
def platform_stack(local_stack):
    """The whole platform: the servers plus migrations and every service as a process (`make up`).

    Its trainer never starts a run here: the demo's documents and the monitor test's drift alerts would otherwise
    retrain and hot-swap the served model in the middle of the e2e tests (the trainer's own tests trigger runs)."""
    os.environ.setdefault("TWIN_DOCUMENTS_PER_RUN", "1000000")
    os.environ.setdefault("TWIN_RETRAIN_ON_DRIFT", "false")
    started_here = not local_stack.healthy(groups=["services"])
    if started_here:
        local_stack.up(groups=["services"])
    yield local_stack
    if started_here and os.environ.get("TWIN_KEEP_STACK") != "1":
        local_stack.down(groups=["services"])


@pytest.fixture
def unique_name():
    """A short unique suffix so concurrent tests never share topics, groups, tables or keys."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:10]}"
