"""Applying parsed CDC events of public.documents to the vector store (and the feature sink).

Pure of Kafka: it takes DebeziumEnvelope objects (None for a tombstone) and returns what it did, so the
consumer, the tests and the benchmark drive the same code. Replays are safe: point ids are deterministic,
and a document whose stored chunks already are exactly this version (same ids, same content_hash) is
skipped without embedding.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from opentelemetry import trace
from pydantic import ValidationError
from twin_common.documents import DocumentRow
from twin_common.events import ChangeOp, DebeziumEnvelope
from twin_search.chunking import Chunk
from twin_search.cleaning import clean_text
from twin_search.indexer import DocumentIndexer

from twin_embedder.features import DocumentFeatures, FeatureSink, NullFeatureSink, StyleStats

tracer = trace.get_tracer("twin_embedder")


class InvalidChange(ValueError):
    """A change event that cannot be applied (missing row, unknown op, row not matching DocumentRow)."""


@dataclass(frozen=True)
class Applied:
    """The outcome of one document change."""

    tenant_id: str
    document_id: str
    op: ChangeOp
    content_hash: str | None
    chunk_count: int
    skipped: bool  # the store already held exactly this version
    source_lsn: int | None = None


@dataclass(frozen=True)
class _Change:
    op: ChangeOp
    tenant_id: str
    document_id: str
    row: DocumentRow | None  # None for a delete
    lsn: int | None
    author_id: str = ""  # of a delete: from the before image
    committed_at: datetime | None = None  # Debezium source.ts_us (the commit time, to the microsecond)


def _commit_time(envelope: DebeziumEnvelope) -> datetime | None:
    """PostgreSQL's commit time of the change: microseconds when Debezium sends them (2.5+), else milliseconds.

    Two commits within one millisecond are common under load; at millisecond precision the feature store, which
    keeps the newest row and drops ties, would keep the first of them."""
    source = envelope.source
    if source.ts_us:
        return datetime.fromtimestamp(source.ts_us // 1_000_000, tz=UTC).replace(microsecond=source.ts_us % 1_000_000)
    return datetime.fromtimestamp(source.ts_ms / 1000, tz=UTC) if source.ts_ms else None


def check_change(envelope: DebeziumEnvelope | None) -> None:
    """Raise InvalidChange when the event cannot be applied whatever the state of the stores (poison)."""
    if envelope is not None:
        _change(envelope)


def _change(envelope: DebeziumEnvelope) -> _Change:
    if envelope.op is ChangeOp.TRUNCATE:
        raise InvalidChange("truncate of public.documents is not supported by the embedder")
    raw = envelope.row
    committed_at = _commit_time(envelope)
    if raw is None:
        raise InvalidChange(f"change op={envelope.op.value} carries no row image")
    if envelope.op is ChangeOp.DELETE:
        if not raw.get("tenant_id") or not raw.get("id"):
            raise InvalidChange("delete event lacks tenant_id/id in its before image (REPLICA IDENTITY FULL?)")
        return _Change(
            envelope.op,
            str(raw["tenant_id"]),
            str(raw["id"]),
            None,
            envelope.source.lsn,
            str(raw.get("author_id") or ""),
            committed_at,
        )
    try:
        row = DocumentRow.model_validate(raw)
    except ValidationError as exc:
        raise InvalidChange(f"row does not match DocumentRow: {exc.errors()[:3]}") from exc
    return _Change(envelope.op, row.tenant_id, row.id, row, envelope.source.lsn, row.author_id, committed_at)


class ChangePipeline:
    def __init__(self, indexer: DocumentIndexer, features: FeatureSink | None = None):
        self.indexer = indexer
        self.features = features or NullFeatureSink()
        # The store is used by the consumer and by read endpoints from other threads.
        self.lock = threading.RLock()

    @property
    def store(self):
        return self.indexer.store

    def apply(self, envelope: DebeziumEnvelope | None) -> list[Applied]:
        return self.apply_batch([envelope])

    def apply_batch(self, envelopes: list[DebeziumEnvelope | None]) -> list[Applied]:
        """Apply changes in order. Only the last change of each document matters for the final state, so a
        batch is collapsed to it per document, and the documents left are embedded in one call."""
        last: dict[str, _Change] = {}
        for envelope in envelopes:
            if envelope is None:  # tombstone after a delete: the delete already did the work
                continue
            change = _change(envelope)
            last.pop(change.document_id, None)  # keep the order of the last change
            last[change.document_id] = change
        with self.lock:
            return self._apply(list(last.values()))

    def _apply(self, changes: list[_Change]) -> list[Applied]:
        # clean and chunk each version once: the skip check, the indexer and the features all use these
        cleaned = {c.document_id: clean_text(c.row.content, c.row.kind) for c in changes if c.row is not None}
        chunks = {
            c.document_id: self.indexer.chunker.chunk(c.row, cleaned[c.document_id])
            for c in changes
            if c.row is not None
        }
        results: list[Applied] = []
        to_index: list[_Change] = []
        for change in changes:
            if change.row is None:
                self.indexer.remove(change.tenant_id, change.document_id)
                results.append(Applied(change.tenant_id, change.document_id, change.op, None, 0, False, change.lsn))
            elif self.is_current(change.row, chunks[change.document_id]):
                results.append(
                    Applied(
                        change.tenant_id,
                        change.document_id,
                        change.op,
                        change.row.content_hash,
                        len(chunks[change.document_id]),
                        True,
                        change.lsn,
                    )
                )
            else:
                to_index.append(change)
        if to_index:
            indexed = self.indexer.index_many(
                [c.row for c in to_index], chunks=[chunks[c.document_id] for c in to_index]
            )
            for change, result in zip(to_index, indexed, strict=True):
                results.append(
                    Applied(
                        change.tenant_id,
                        change.document_id,
                        change.op,
                        change.row.content_hash,
                        result.chunks,
                        False,
                        change.lsn,
                    )
                )
        features = [self._features(c, chunks.get(c.document_id, []), cleaned.get(c.document_id, "")) for c in changes]
        with tracer.start_as_current_span("feast.push", attributes={"twin.features.documents": len(features)}):
            self.features.push(features)
        return results

    def is_current(self, row: DocumentRow, chunks: list[Chunk]) -> bool:
        """True when the store holds exactly these chunks of the row: same point ids, all with its content_hash."""
        expected = {c.chunk_id for c in chunks}
        stored = self.store.document_point_ids(row.tenant_id, row.id)
        if stored != expected or not expected:
            return False
        hits = self.store.retrieve(sorted(expected))
        return len(hits) == len(expected) and all(h.payload.get("content_hash") == row.content_hash for h in hits)

    def expected_point_ids(self, row: DocumentRow) -> set[str]:
        return {c.chunk_id for c in self.indexer.chunker.chunk(row)}

    def _features(self, change: _Change, chunks: list[Chunk], cleaned: str) -> DocumentFeatures:
        if change.row is None:
            return DocumentFeatures(
                change.tenant_id,
                change.document_id,
                change.author_id,
                0,
                0,
                None,
                None,
                deleted=True,
                committed_at=change.committed_at,
                source_lsn=change.lsn,
            )
        row = change.row
        return DocumentFeatures(
            change.tenant_id,
            change.document_id,
            row.author_id,
            len(chunks),
            sum(c.token_count for c in chunks),
            row.language,
            row.updated_at,
            kind=row.kind.value,
            style=StyleStats.of(cleaned),
            committed_at=change.committed_at,
            source_lsn=change.lsn,
        )
