"""Fixtures of the ingest integration tests."""

import pytest
from ingest_support import private_database


@pytest.fixture
def source_dsn():
    with private_database() as dsn:
        yield dsn
