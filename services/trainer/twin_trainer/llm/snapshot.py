"""A point-in-time snapshot of an author's corpus, read from PostgreSQL (the source of truth).

All documents of the author (and of the contrast authors) are read in one REPEATABLE READ, READ ONLY
transaction; the snapshot records the WAL position (`pg_current_wal_lsn()`) and the transaction snapshot
(`pg_current_snapshot()`) taken inside it, the time, and a manifest of (document id, content hash, updated_at).
Every change the embedder has indexed up to that LSN is in it, and nothing committed later. The dataset built
from it is logged with the manifest and its fingerprint, so a rerun can tell whether it sees the same corpus
(`CorpusSnapshot.fingerprint`) and which documents changed since (`changed_since`).

Why PostgreSQL and not the vector store: the store has no snapshot isolation (a run reading it while the embedder
writes sees a moving corpus, with no position to record), and locally the embedded store admits one process (the
embedder). The passages are cut by the same cleaning and chunking code as the indexed chunks, so their ids equal
the store's point ids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from twin_common.documents import DocumentRow

_DOCUMENT_COLUMNS = (
    "id::text, tenant_id, author_id::text, kind, external_id, title, url, content, language, tags, metadata, "
    "content_hash, created_at, updated_at"
)


class SnapshotError(LookupError):
    """The tenant or author does not exist, or the author has no documents."""


@dataclass(frozen=True)
class CorpusSnapshot:
    tenant_id: str
    author_id: str
    author_name: str
    wal_lsn: str  # e.g. "0/1A2B3C4D"
    txid_snapshot: str  # xmin:xmax:xip of the reading transaction
    taken_at: datetime
    documents: list[DocumentRow]
    contrast: dict[str, list[DocumentRow]] = field(default_factory=dict)  # author name -> documents

    @property
    def fingerprint(self) -> str:
        """sha256 over the author's (document id, content hash) pairs and the contrast authors' ones."""
        h = hashlib.sha256()
        for name, docs in [(self.author_name, self.documents), *sorted(self.contrast.items())]:
            h.update(name.encode())
            for doc in sorted(docs, key=lambda d: d.id):
                h.update(f"\0{doc.id}\0{doc.content_hash}".encode())
        return "sha256:" + h.hexdigest()

    def manifest(self) -> dict:
        return {
            "tenant_id": self.tenant_id,
            "author_id": self.author_id,
            "author_name": self.author_name,
            "wal_lsn": self.wal_lsn,
            "txid_snapshot": self.txid_snapshot,
            "taken_at": self.taken_at.isoformat(),
            "fingerprint": self.fingerprint,
            "documents": [_entry(d) for d in sorted(self.documents, key=lambda d: d.id)],
            "contrast": {
                name: [_entry(d) for d in sorted(docs, key=lambda d: d.id)]
                for name, docs in sorted(self.contrast.items())
            },
        }

    def changed_since(self, manifest: dict) -> list[str]:
        """Document ids whose content differs from (or is missing in) an earlier manifest, and ids gone since."""
        before = {d["id"]: d["content_hash"] for d in manifest.get("documents", [])}
        now = {d.id: d.content_hash for d in self.documents}
        return sorted({i for i in now if before.get(i) != now[i]} | (before.keys() - now.keys()))


def _entry(doc: DocumentRow) -> dict:
    return {
        "id": doc.id,
        "external_id": doc.external_id,
        "content_hash": doc.content_hash,
        "updated_at": doc.updated_at.isoformat() if doc.updated_at else None,
    }


def take_snapshot(dsn: str, tenant_id: str, author: str, contrast_authors: tuple[str, ...] = ()) -> CorpusSnapshot:
    """Read the author's documents (by author name or id) and the contrast authors' as of one WAL position."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            position = conn.execute(
                "SELECT pg_current_wal_lsn()::text AS lsn, pg_current_snapshot()::text AS snap, now() AS at"
            ).fetchone()
            author_id, author_name = _resolve_author(conn, tenant_id, author)
            documents = _documents(conn, tenant_id, author_id)
            contrast = {}
            for other in contrast_authors:
                other_id, other_name = _resolve_author(conn, tenant_id, other)
                contrast[other_name] = _documents(conn, tenant_id, other_id)
    if not documents:
        raise SnapshotError(f"author {author_name!r} of tenant {tenant_id!r} has no documents")
    return CorpusSnapshot(
        tenant_id=tenant_id,
        author_id=author_id,
        author_name=author_name,
        wal_lsn=position["lsn"],
        txid_snapshot=position["snap"],
        taken_at=position["at"],
        documents=documents,
        contrast=contrast,
    )


def _resolve_author(conn, tenant_id: str, author: str) -> tuple[str, str]:
    row = conn.execute(
        "SELECT id::text AS id, name FROM authors WHERE tenant_id = %s AND (name = %s OR id::text = %s)",
        (tenant_id, author, author),
    ).fetchone()
    if row is None:
        known = [r["name"] for r in conn.execute("SELECT name FROM authors WHERE tenant_id = %s", (tenant_id,))]
        raise SnapshotError(f"no author {author!r} in tenant {tenant_id!r} (authors: {', '.join(known) or 'none'})")
    return row["id"], row["name"]


def _documents(conn, tenant_id: str, author_id: str) -> list[DocumentRow]:
    rows = conn.execute(
        f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE tenant_id = %s AND author_id = %s ORDER BY id",
        (tenant_id, author_id),
    ).fetchall()
    return [DocumentRow.model_validate(r) for r in rows]


def resolve_author(dsn: str, tenant_id: str, author: str) -> tuple[str, str]:
    """(author id, name) of an author given by name or id; SnapshotError when unknown."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        return _resolve_author(conn, tenant_id, author)
