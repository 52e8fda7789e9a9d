"""Fixtures of the CDC integration tests: a private database, connector, slot, publication and topic prefix."""

from __future__ import annotations

import pytest
from cdc_support import create_source_db, drop_source_db, make_rig, teardown_rig
from twin_common.settings import ConnectSettings


@pytest.fixture
def source_db():
    """A fresh database twin_test_<uuid> with the source schema migrated; dropped afterwards."""
    dsn = create_source_db()
    yield dsn
    drop_source_db(dsn)


@pytest.fixture
def cdc_rig(source_db):
    """Names for a private connector on the shared Connect worker; connector and slot removed afterwards."""
    rig = make_rig(source_db, ConnectSettings().url)
    yield rig
    teardown_rig(rig)
