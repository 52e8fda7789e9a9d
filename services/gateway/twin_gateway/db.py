"""A few PostgreSQL connections shared by the gateway's stages (key lookups, citation checks).

psycopg's own pool (psycopg-pool) is not in the lock; this is the minimum the gateway needs: `size` autocommit
connections opened on demand, handed out one query at a time, reopened after a connection error.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
from psycopg.rows import dict_row

from twin_gateway.errors import Code, GatewayError

log = logging.getLogger(__name__)


class Database:
    def __init__(self, dsn: str, size: int = 4, connect_timeout_s: int = 5):
        self.dsn = dsn
        self.connect_timeout_s = connect_timeout_s
        self._free: asyncio.Queue[psycopg.AsyncConnection | None] = asyncio.Queue()
        for _ in range(size):
            self._free.put_nowait(None)  # a slot; connected on first use
        self._all: list[psycopg.AsyncConnection] = []

    async def fetch(self, sql: str, params=(), *, what: str = "the database") -> list[dict]:
        """Rows of one query; UNAVAILABLE (with a clear message) when PostgreSQL cannot be reached."""
        conn = await self._free.get()
        try:
            for attempt in (1, 2):
                try:
                    if conn is None or conn.closed:
                        conn = await psycopg.AsyncConnection.connect(
                            self.dsn, autocommit=True, row_factory=dict_row, connect_timeout=self.connect_timeout_s
                        )
                        self._all.append(conn)
                    cursor = await conn.execute(sql, params)
                    return await cursor.fetchall()
                except psycopg.OperationalError as exc:
                    if conn is not None:
                        await conn.close()
                    conn = None
                    if attempt == 2:
                        log.warning("%s unreachable: %s", what, exc)
                        raise GatewayError(
                            Code.UNAVAILABLE, f"{what} is unreachable, try again", reason="database_down"
                        ) from None
            raise AssertionError("unreachable")
        finally:
            self._free.put_nowait(conn)

    async def close(self) -> None:
        for conn in self._all:
            if not conn.closed:
                await conn.close()
        self._all.clear()
