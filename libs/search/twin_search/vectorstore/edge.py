"""Embedded Qdrant (qdrant-edge-py): Qdrant's Rust engine in process — HNSW, payload indexes, sparse vectors
with IDF. One process per shard directory: in the local stack the embedder owns it."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import qdrant_edge as q

from twin_search.sparse import SparseVector
from twin_search.vectorstore.base import (
    DENSE,
    INDEXED_KEYWORDS,
    SPARSE,
    IndexedChunk,
    ScoredChunk,
    SearchFilter,
    VectorStore,
)


def _filter(conditions: dict[str, tuple[str, ...]]) -> q.Filter:
    must = [
        q.FieldCondition(key, match=q.MatchValue(values[0]) if len(values) == 1 else q.MatchAny(list(values)))
        for key, values in conditions.items()
    ]
    return q.Filter(must=must)


class EdgeVectorStore(VectorStore):
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._shard: q.EdgeShard | None = None
        self._lock = threading.Lock()  # the shard is shared by the writer and readers of one process

    def ensure_collection(self, dimension: int) -> None:
        if self._shard is not None:
            return
        if (self.path / "edge_config.json").exists() or (self.path.exists() and any(self.path.iterdir())):
            self._shard = q.EdgeShard.load(str(self.path))
            return
        self.path.mkdir(parents=True, exist_ok=True)
        config = q.EdgeConfig(
            vectors={DENSE: q.EdgeVectorParams(size=dimension, distance=q.Distance.Cosine)},
            sparse_vectors={SPARSE: q.EdgeSparseVectorParams(modifier=q.Modifier.Idf)},
        )
        self._shard = q.EdgeShard.create(str(self.path), config)
        for field in INDEXED_KEYWORDS:
            self._shard.update(q.UpdateOperation.create_field_index(field, q.PayloadSchemaType.Keyword))

    @property
    def shard(self) -> q.EdgeShard:
        if self._shard is None:
            raise RuntimeError("call ensure_collection first")
        return self._shard

    def upsert(self, items: list[IndexedChunk]) -> None:
        if not items:
            return
        points = [
            q.Point(
                item.chunk.chunk_id,
                {
                    DENSE: item.dense.astype(float).tolist(),
                    SPARSE: q.SparseVector(item.sparse.indices, item.sparse.values),
                },
                item.chunk.payload(),
            )
            for item in items
        ]
        with self._lock:
            self.shard.update(q.UpdateOperation.upsert_points(points))

    def delete_points(self, point_ids: list[str]) -> None:
        if point_ids:
            with self._lock:
                self.shard.update(q.UpdateOperation.delete_points(list(point_ids)))

    def delete_document(self, tenant_id: str, document_id: str) -> None:
        with self._lock:
            self.shard.update(
                q.UpdateOperation.delete_points_by_filter(
                    _filter({"tenant_id": (tenant_id,), "document_id": (document_id,)})
                )
            )

    def document_point_ids(self, tenant_id: str, document_id: str) -> set[str]:
        flt = _filter({"tenant_id": (tenant_id,), "document_id": (document_id,)})
        ids: set[str] = set()
        offset = None
        with self._lock:
            while True:
                records, offset = self.shard.scroll(
                    q.ScrollRequest(limit=256, offset=offset, filter=flt, with_payload=False)
                )
                ids.update(str(r.id) for r in records)
                if offset is None:
                    return ids

    def _query(self, query: q.Query, flt: SearchFilter, limit: int) -> list[ScoredChunk]:
        request = q.QueryRequest(limit=limit, query=query, filter=_filter(flt.conditions()), with_payload=True)
        with self._lock:
            hits = self.shard.query(request)
        return [ScoredChunk(str(h.id), float(h.score), dict(h.payload or {})) for h in hits]

    def search_dense(self, vector: np.ndarray, flt: SearchFilter, limit: int) -> list[ScoredChunk]:
        return self._query(q.Query.Nearest(vector.astype(float).tolist(), using=DENSE), flt, limit)

    def search_sparse(self, vector: SparseVector, flt: SearchFilter, limit: int) -> list[ScoredChunk]:
        if not vector.indices:
            return []
        return self._query(q.Query.Nearest(q.SparseVector(vector.indices, vector.values), using=SPARSE), flt, limit)

    def retrieve(self, point_ids: list[str]) -> list[ScoredChunk]:
        with self._lock:
            records = self.shard.retrieve(list(point_ids), with_payload=True, with_vector=False)
        return [ScoredChunk(str(r.id), 0.0, dict(r.payload or {})) for r in records]

    def count(self, flt: SearchFilter | None = None) -> int:
        request = q.CountRequest(filter=_filter(flt.conditions()) if flt else None, exact=True)
        with self._lock:
            return self.shard.count(request)

    def close(self) -> None:
        with self._lock:
            if self._shard is not None:
                self._shard.flush()
                self._shard.close()
                self._shard = None
