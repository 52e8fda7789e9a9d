"""The trainer's own tables in the source database: pending document changes per author and every trigger with
its reason and outcome. Created on start (idempotent DDL under an advisory lock); the trainer owns them.

- `trainer_pending_changes`: one row per (tenant, author, document) changed since the author's last run started;
  a DocumentIndexed replay rewrites the same row, so counts never double.
- `trainer_triggers`: what asked for a run (documents / drift / schedule / manual), why, and what happened
  (started, skipped because a run of the author is in progress, deferred, ignored); unique on the source event
  id, so a replayed event is not a second trigger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SCHEMA = """
CREATE TABLE IF NOT EXISTS trainer_pending_changes (
    tenant_id    text NOT NULL,
    author_id    text NOT NULL,
    document_id  text NOT NULL,
    content_hash text,
    op           text NOT NULL,
    event_id     text,
    seen_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, author_id, document_id)
);
CREATE TABLE IF NOT EXISTS trainer_triggers (
    id          bigserial PRIMARY KEY,
    tenant_id   text NOT NULL,
    author_id   text NOT NULL,
    kind        text NOT NULL,
    reason      text NOT NULL,
    source_id   text UNIQUE,
    outcome     text NOT NULL DEFAULT 'received',
    detail      text,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS trainer_triggers_author ON trainer_triggers (tenant_id, author_id, created_at);
"""
_SCHEMA_LOCK = 7_316_004_011  # advisory lock key serialising the DDL of concurrent starts


@dataclass(frozen=True)
class TriggerRecord:
    id: int
    tenant_id: str
    author_id: str
    kind: str
    reason: str
    outcome: str
    detail: str | None
    created_at: datetime


class TriggerStore:
    def __init__(self, dsn: str):
        self.dsn = dsn

    def _connect(self):
        import psycopg

        return psycopg.connect(self.dsn, autocommit=True)

    def ensure_schema(self) -> None:
        with self._connect() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
            try:
                conn.execute(SCHEMA)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))

    def author_of(self, tenant_id: str, document_id: str) -> str | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT author_id::text FROM documents WHERE tenant_id = %s AND id::text = %s", (tenant_id, document_id)
            ).fetchone()
        return row[0] if row else None

    def record_change(
        self, tenant_id: str, author_id: str, document_id: str, content_hash: str | None, op: str, event_id: str
    ) -> int:
        """Note a changed document of the author; returns the author's pending count."""
        with self._connect() as conn:
            conn.execute(
                """INSERT INTO trainer_pending_changes (tenant_id, author_id, document_id, content_hash, op, event_id)
                   VALUES (%s, %s, %s, %s, %s, %s)
                   ON CONFLICT (tenant_id, author_id, document_id) DO UPDATE
                   SET content_hash = EXCLUDED.content_hash, op = EXCLUDED.op, event_id = EXCLUDED.event_id,
                       seen_at = clock_timestamp()""",
                (tenant_id, author_id, document_id, content_hash, op, event_id),
            )
            return self._pending(conn, tenant_id, author_id)

    @staticmethod
    def _pending(conn, tenant_id: str, author_id: str) -> int:
        return conn.execute(
            "SELECT count(*) FROM trainer_pending_changes WHERE tenant_id = %s AND author_id = %s",
            (tenant_id, author_id),
        ).fetchone()[0]

    def pending_count(self, tenant_id: str, author_id: str) -> int:
        with self._connect() as conn:
            return self._pending(conn, tenant_id, author_id)

    def authors_with_pending(self) -> list[tuple[str, str, int]]:
        with self._connect() as conn:
            return [
                (t, a, n)
                for t, a, n in conn.execute(
                    "SELECT tenant_id, author_id, count(*) FROM trainer_pending_changes GROUP BY 1, 2 ORDER BY 1, 2"
                )
            ]

    def clear_pending(self, tenant_id: str, author_id: str, up_to: datetime) -> int:
        """Forget the changes a starting run covers (its snapshot is taken after this moment)."""
        with self._connect() as conn:
            return conn.execute(
                "DELETE FROM trainer_pending_changes WHERE tenant_id = %s AND author_id = %s AND seen_at <= %s",
                (tenant_id, author_id, up_to),
            ).rowcount

    def now(self) -> datetime:
        with self._connect() as conn:
            return conn.execute("SELECT clock_timestamp()").fetchone()[0]

    def record_trigger(
        self, tenant_id: str, author_id: str, kind: str, reason: str, source_id: str | None
    ) -> int | None:
        """A new trigger's id, or None when this source event was already recorded (a replay)."""
        with self._connect() as conn:
            row = conn.execute(
                """INSERT INTO trainer_triggers (tenant_id, author_id, kind, reason, source_id)
                   VALUES (%s, %s, %s, %s, %s) ON CONFLICT (source_id) DO NOTHING RETURNING id""",
                (tenant_id, author_id, kind, reason, source_id),
            ).fetchone()
        return row[0] if row else None

    def set_outcome(self, trigger_id: int, outcome: str, detail: str | None = None) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE trainer_triggers SET outcome = %s, detail = %s, updated_at = clock_timestamp() WHERE id = %s",
                (outcome, detail, trigger_id),
            )

    def triggers(
        self, tenant_id: str | None = None, author_id: str | None = None, limit: int = 50
    ) -> list[TriggerRecord]:
        where, args = [], []
        if tenant_id is not None:
            where.append("tenant_id = %s")
            args.append(tenant_id)
        if author_id is not None:
            where.append("author_id = %s")
            args.append(author_id)
        sql = "SELECT id, tenant_id, author_id, kind, reason, outcome, detail, created_at FROM trainer_triggers"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT %s"
        with self._connect() as conn:
            return [TriggerRecord(*row) for row in conn.execute(sql, (*args, limit))]
