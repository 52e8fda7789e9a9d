"""API keys in PostgreSQL (table api_keys, migration 0002 of twin_ingest; `twin migrate` applies it).

Administration (`twin keys`) uses the synchronous functions; the gateway authenticates through `KeyStore`,
which remembers what it read about a key for `cache_ttl_s` (< 1 s), so a revocation is refused by every
replica within that time without a database round trip per request.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

import psycopg
from cachetools import TTLCache
from psycopg.rows import dict_row

from twin_gateway.db import Database
from twin_gateway.errors import Code, GatewayError
from twin_gateway.keys.key_format import hash_key, matches, new_key, parse_key
from twin_gateway.pipeline.context import Caller, Scope
from twin_gateway.settings import KeySettings

log = logging.getLogger(__name__)

ALL_SCOPES = tuple(s.value for s in Scope)
DEFAULT_SCOPES = ("ask", "search", "ingest", "feedback")
TENANT_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"  # as the ingest service's tenant path parameter

_COLUMNS = (
    "id, tenant_id, name, key_hash, scopes, routes, requests_per_minute, tokens_per_minute, max_concurrent, "
    "created_at, revoked_at"
)


@dataclass(frozen=True)
class KeyRecord:
    id: str
    tenant_id: str
    name: str
    scopes: tuple[str, ...]
    routes: tuple[str, ...]
    requests_per_minute: int | None
    tokens_per_minute: int | None
    max_concurrent: int | None
    created_at: datetime
    revoked_at: datetime | None

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "name": self.name,
            "scopes": list(self.scopes),
            "routes": list(self.routes),
            "requests_per_minute": self.requests_per_minute,
            "tokens_per_minute": self.tokens_per_minute,
            "max_concurrent": self.max_concurrent,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def _record(row: dict) -> KeyRecord:
    return KeyRecord(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        scopes=tuple(row["scopes"]),
        routes=tuple(row["routes"]),
        requests_per_minute=row["requests_per_minute"],
        tokens_per_minute=row["tokens_per_minute"],
        max_concurrent=row["max_concurrent"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


# --- administration (synchronous: the `twin keys` command, tests) ---------------------------------------


def create_key(
    dsn: str,
    pepper: bytes,
    tenant_id: str,
    *,
    scopes: tuple[str, ...] = DEFAULT_SCOPES,
    routes: tuple[str, ...] = (),
    name: str = "",
    requests_per_minute: int | None = None,
    tokens_per_minute: int | None = None,
    max_concurrent: int | None = None,
) -> tuple[KeyRecord, str]:
    """Create a key for the tenant (created too when new); returns the record and the clear key (shown once)."""
    import re

    if not re.match(TENANT_PATTERN, tenant_id):
        raise ValueError(f"tenant {tenant_id!r} must match {TENANT_PATTERN}")
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown or not scopes:
        raise ValueError(f"scopes must be a non-empty subset of {', '.join(ALL_SCOPES)}; unknown: {unknown}")
    key = new_key()
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO tenants (id, name) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING", (tenant_id, tenant_id)
        )
        row = conn.execute(
            f"INSERT INTO api_keys (id, tenant_id, name, key_hash, scopes, routes, requests_per_minute, "
            f"tokens_per_minute, max_concurrent) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
            (
                key.key_id,
                tenant_id,
                name,
                hash_key(pepper, key.clear),
                list(dict.fromkeys(scopes)),
                list(dict.fromkeys(routes)),
                requests_per_minute,
                tokens_per_minute,
                max_concurrent,
            ),
        ).fetchone()
    return _record(row), key.clear


def list_keys(dsn: str, tenant_id: str | None = None, include_revoked: bool = True) -> list[KeyRecord]:
    query = f"SELECT {_COLUMNS} FROM api_keys WHERE (%(tenant)s::text IS NULL OR tenant_id = %(tenant)s)"
    if not include_revoked:
        query += " AND revoked_at IS NULL"
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        rows = conn.execute(query + " ORDER BY created_at, id", {"tenant": tenant_id}).fetchall()
    return [_record(r) for r in rows]


def revoke_key(dsn: str, key_id: str) -> KeyRecord | None:
    """Revoke a key (idempotent: the first revocation time stays); None when there is no such key."""
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        row = conn.execute(
            f"UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = %s RETURNING {_COLUMNS}",
            (key_id,),
        ).fetchone()
    return _record(row) if row else None


# --- authentication (the gateway) ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    caller: Caller | None
    key_hash: bytes | None
    revoked: bool


class KeyStore:
    def __init__(self, db: Database, settings: KeySettings):
        self.db = db
        self.pepper = settings.pepper.get_secret_value().encode()
        self._cache: TTLCache[str, _Entry] = TTLCache(maxsize=settings.cache_size, ttl=settings.cache_ttl_s)
        self._inflight: dict[str, asyncio.Future[_Entry]] = {}

    async def ready(self) -> bool:
        """PostgreSQL reachable and the api_keys table migrated (the gateway never migrates: `twin migrate`)."""
        rows = await self.db.fetch("SELECT to_regclass('public.api_keys') IS NOT NULL AS ok", what="the key store")
        return bool(rows and rows[0]["ok"])

    async def authenticate(self, token: str | None) -> Caller:
        if not token:
            raise GatewayError(
                Code.UNAUTHENTICATED,
                "missing API key: send it as 'Authorization: Bearer <key>' (gRPC metadata 'authorization')",
                reason="missing_key",
            )
        parsed = parse_key(token)
        if parsed is None:
            raise GatewayError(
                Code.UNAUTHENTICATED, "malformed API key: expected 'twin_<id>_<secret>'", reason="malformed_key"
            )
        entry = await self._entry(parsed.key_id)
        if entry.caller is None or entry.key_hash is None or not matches(self.pepper, parsed.clear, entry.key_hash):
            raise GatewayError(Code.UNAUTHENTICATED, "unknown API key", reason="unknown_key")
        if entry.revoked:
            raise GatewayError(Code.UNAUTHENTICATED, f"API key {parsed.key_id} was revoked", reason="key_revoked")
        return entry.caller

    async def _entry(self, key_id: str) -> _Entry:
        entry = self._cache.get(key_id)
        if entry is not None:
            return entry
        pending = self._inflight.get(key_id)
        if pending is not None:  # one lookup per key at a time; the others wait for its answer
            return await asyncio.shield(pending)
        future: asyncio.Future[_Entry] = asyncio.get_running_loop().create_future()
        self._inflight[key_id] = future
        try:
            entry = await self._load(key_id)
            self._cache[key_id] = entry
            future.set_result(entry)
            return entry
        except BaseException as exc:
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            else:
                future.cancel()
            raise
        finally:
            del self._inflight[key_id]

    async def _load(self, key_id: str) -> _Entry:
        try:
            rows = await self.db.fetch(
                f"SELECT {_COLUMNS} FROM api_keys WHERE id = %s", (key_id,), what="the key store"
            )
        except psycopg.errors.UndefinedTable:
            raise GatewayError(
                Code.UNAVAILABLE, "the API key table is missing: run `twin migrate`", reason="not_migrated"
            ) from None
        if not rows:
            return _Entry(None, None, False)
        record = _record(rows[0])
        caller = Caller(
            key_id=record.id,
            tenant_id=record.tenant_id,
            scopes=frozenset(record.scopes),
            routes=frozenset(record.routes),
            requests_per_minute=record.requests_per_minute,
            tokens_per_minute=record.tokens_per_minute,
            max_concurrent=record.max_concurrent,
        )
        return _Entry(caller, bytes(rows[0]["key_hash"]), record.revoked_at is not None)
