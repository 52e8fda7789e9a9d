"""Writes tenants, authors and documents to PostgreSQL; a document write is insert, update or nothing."""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb
from twin_common.telemetry.kafka import current_traceparent

from twin_ingest.hashing import content_hash
from twin_ingest.model import Outcome, SourceDocument

# Insert, or update only when the content hash differs. No row comes back when nothing changed,
# so an unchanged re-import writes nothing to the WAL and produces no CDC event.
UPSERT_DOCUMENT = """
INSERT INTO documents (tenant_id, author_id, kind, external_id, title, url, content, language, tags, metadata,
                       content_hash, traceparent)
VALUES (%(tenant_id)s, %(author_id)s, %(kind)s, %(external_id)s, %(title)s, %(url)s, %(content)s, %(language)s,
        %(tags)s, %(metadata)s, %(content_hash)s, %(traceparent)s)
ON CONFLICT (tenant_id, author_id, external_id) DO UPDATE SET
    kind = EXCLUDED.kind, title = EXCLUDED.title, url = EXCLUDED.url, content = EXCLUDED.content,
    language = EXCLUDED.language, tags = EXCLUDED.tags, metadata = EXCLUDED.metadata,
    content_hash = EXCLUDED.content_hash, traceparent = EXCLUDED.traceparent, updated_at = now()
WHERE documents.content_hash IS DISTINCT FROM EXCLUDED.content_hash
RETURNING id, (xmax = 0) AS inserted
"""


class DocumentStore:
    """One connection to the source database (autocommit: each document is its own transaction)."""

    def __init__(self, dsn: str):
        self.conn = psycopg.connect(dsn, autocommit=True)

    def close(self) -> None:
        self.conn.close()

    @property
    def broken(self) -> bool:
        """The connection is lost (the server went away): no later write can succeed on it."""
        return self.conn.broken or self.conn.closed

    def __enter__(self) -> DocumentStore:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def ensure_tenant(self, tenant_id: str) -> None:
        self.conn.execute(
            "INSERT INTO tenants (id, name) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING", (tenant_id, tenant_id)
        )

    def ensure_author(self, tenant_id: str, name: str) -> str:
        """The author's id within the tenant, created on first use."""
        self.ensure_tenant(tenant_id)
        row = self.conn.execute(
            "INSERT INTO authors (tenant_id, name) VALUES (%s, %s) ON CONFLICT (tenant_id, name) DO NOTHING "
            "RETURNING id",
            (tenant_id, name),
        ).fetchone()
        if row is None:
            row = self.conn.execute(
                "SELECT id FROM authors WHERE tenant_id = %s AND name = %s", (tenant_id, name)
            ).fetchone()
        return str(row[0])

    def upsert(self, tenant_id: str, author_id: str, document: SourceDocument) -> Outcome:
        row = self.conn.execute(
            UPSERT_DOCUMENT,
            {
                "tenant_id": tenant_id,
                "author_id": author_id,
                "kind": document.kind.value,
                "external_id": document.external_id,
                "title": document.title,
                "url": document.url,
                "content": document.content,
                "language": document.language,
                "tags": list(document.tags),
                "metadata": Jsonb(document.metadata),
                "content_hash": content_hash(document),
                "traceparent": current_traceparent(),  # the embedder continues this trace from the CDC event
            },
        ).fetchone()
        if row is None:
            return Outcome.UNCHANGED
        return Outcome.STORED if row[1] else Outcome.UPDATED

    def list_documents(self, tenant_id: str, limit: int = 100, offset: int = 0) -> list[dict]:
        """A tenant's documents (never another tenant's), newest first, without their content."""
        cursor = self.conn.execute(
            "SELECT d.id::text, a.name, d.kind, d.external_id, d.title, d.url, d.content_hash, d.updated_at"
            " FROM documents d JOIN authors a ON a.id = d.author_id WHERE d.tenant_id = %s"
            " ORDER BY d.updated_at DESC, d.id LIMIT %s OFFSET %s",
            (tenant_id, limit, offset),
        )
        columns = ["id", "author", "kind", "external_id", "title", "url", "content_hash", "updated_at"]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    def delete_document(self, tenant_id: str, document_id: str) -> bool:
        """A real delete (the CDC stream carries it as a delete and a tombstone); False if not the tenant's."""
        cursor = self.conn.execute(
            "DELETE FROM documents WHERE tenant_id = %s AND id = %s::uuid", (tenant_id, document_id)
        )
        return cursor.rowcount == 1
