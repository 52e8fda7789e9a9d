"""PostgreSQL side of CDC: the replication slot and publication a connector uses, and their removal."""

from __future__ import annotations

import time

import psycopg


def drop_slot_and_publication(dsn: str, slot_name: str, publication_name: str, timeout: float = 30.0) -> None:
    """Drop the slot (waiting until its consumer has let go) and the publication, if they exist.

    `dsn` must point at the database the slot and publication belong to.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn.execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                    (slot_name,),
                )
                break
            except psycopg.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.25)
        conn.execute(f'DROP PUBLICATION IF EXISTS "{publication_name}"')


def slot_exists(dsn: str, slot_name: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot_name,)).fetchone()
        return row is not None
