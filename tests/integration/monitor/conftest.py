"""Fixtures of the monitor's integration tests: a private database (and topics) per test."""

from __future__ import annotations

import pytest
from monitor_support import create_rig, teardown_rig


@pytest.fixture
def rig(local_stack, tmp_path):
    rig = create_rig(tmp_path)
    yield rig
    teardown_rig(rig)


@pytest.fixture
def database(local_stack, tmp_path):
    """A private migrated database only (no topics): for the store's own tests."""
    rig = create_rig(tmp_path, topics=False)
    yield rig
    teardown_rig(rig)
