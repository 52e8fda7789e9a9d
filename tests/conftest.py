"""Test tiers by folder: tests/unit (no servers), tests/integration and tests/e2e (real local stack).

The integration and e2e tiers start the local stack themselves (session fixture `local_stack`) and stop
it at the end if this run started it. TWIN_KEEP_STACK=1 leaves it running for the next run.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

TIERS = ("unit", "integration", "e2e")


def _service_token_for_this_run() -> None:
    """Internal services refuse tenant data without TWIN_SERVICE_TOKEN (twin_common.service_auth): this run makes
    one when neither the environment nor the local stack's stack.env has one."""
    from twin_common.service_auth import token_for_this_run

    token_for_this_run()


_service_token_for_this_run()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    for item in items:
        parts = Path(item.fspath).relative_to(root).parts
        if parts and parts[0] in TIERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


@pytest.fixture(scope="session")
def local_stack():
    """The running local stack (started for this session unless it already runs)."""
    from twin_localstack import Stack

    stack = Stack()
    started_here = not stack.healthy()
    if started_here:
        stack.up()
    yield stack
    if started_here and os.environ.get("TWIN_KEEP_STACK") != "1":
        stack.down()


@pytest.fixture
def unique_name():
    """A short unique suffix so concurrent tests never share topics, groups, tables or keys."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:10]}"
