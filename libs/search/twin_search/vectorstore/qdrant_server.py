"""Qdrant through qdrant-client: the production path (a Qdrant server). qdrant-client's local mode
(`location=":memory:"` or `path=...`) speaks the same API and is what the tests can run here."""

from __future__ import annotations

import numpy as np
from qdrant_client import QdrantClient, models

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


def _filter(conditions: dict[str, tuple[str, ...]]) -> models.Filter:
    return models.Filter(
        must=[
            models.FieldCondition(
                key=key,
                match=models.MatchValue(value=values[0]) if len(values) == 1 else models.MatchAny(any=list(values)),
            )
            for key, values in conditions.items()
        ]
    )


class QdrantServerStore(VectorStore):
    def __init__(self, client: QdrantClient, collection: str = "twin_chunks"):
        self.client = client
        self.collection = collection

    @classmethod
    def connect(
        cls,
        url: str | None = None,
        location: str | None = None,
        path: str | None = None,
        collection: str = "twin_chunks",
        timeout_s: float | None = None,
    ) -> QdrantServerStore:
        """`timeout_s` bounds each call to a Qdrant server (qdrant-client's default is 5 s for REST)."""
        if url:
            return cls(QdrantClient(url=url, **({"timeout": int(max(1, timeout_s))} if timeout_s else {})), collection)
        return cls(QdrantClient(location=location, path=path), collection)

    def ensure_collection(self, dimension: int) -> None:
        if self.client.collection_exists(self.collection):
            return
        self.client.create_collection(
            self.collection,
            vectors_config={DENSE: models.VectorParams(size=dimension, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        )
        for field in INDEXED_KEYWORDS:
            self.client.create_payload_index(self.collection, field, models.PayloadSchemaType.KEYWORD)

    def upsert(self, items: list[IndexedChunk]) -> None:
        if not items:
            return
        self.client.upsert(
            self.collection,
            wait=True,
            points=[
                models.PointStruct(
                    id=item.chunk.chunk_id,
                    vector={
                        DENSE: item.dense.astype(float).tolist(),
                        SPARSE: models.SparseVector(indices=item.sparse.indices, values=item.sparse.values),
                    },
                    payload=item.chunk.payload(),
                )
                for item in items
            ],
        )

    def delete_points(self, point_ids: list[str]) -> None:
        if point_ids:
            self.client.delete(self.collection, points_selector=models.PointIdsList(points=list(point_ids)), wait=True)

    def delete_document(self, tenant_id: str, document_id: str) -> None:
        flt = _filter({"tenant_id": (tenant_id,), "document_id": (document_id,)})
        self.client.delete(self.collection, points_selector=models.FilterSelector(filter=flt), wait=True)

    def document_point_ids(self, tenant_id: str, document_id: str) -> set[str]:
        flt = _filter({"tenant_id": (tenant_id,), "document_id": (document_id,)})
        ids: set[str] = set()
        offset = None
        while True:
            records, offset = self.client.scroll(
                self.collection, scroll_filter=flt, limit=256, offset=offset, with_payload=False, with_vectors=False
            )
            ids.update(str(r.id) for r in records)
            if offset is None:
                return ids

    def _query(self, query, using: str, flt: SearchFilter, limit: int) -> list[ScoredChunk]:
        response = self.client.query_points(
            self.collection,
            query=query,
            using=using,
            query_filter=_filter(flt.conditions()),
            limit=limit,
            with_payload=True,
        )
        return [ScoredChunk(str(p.id), float(p.score), dict(p.payload or {})) for p in response.points]

    def search_dense(self, vector: np.ndarray, flt: SearchFilter, limit: int) -> list[ScoredChunk]:
        return self._query(vector.astype(float).tolist(), DENSE, flt, limit)

    def search_sparse(self, vector: SparseVector, flt: SearchFilter, limit: int) -> list[ScoredChunk]:
        if not vector.indices:
            return []
        return self._query(models.SparseVector(indices=vector.indices, values=vector.values), SPARSE, flt, limit)

    def retrieve(self, point_ids: list[str]) -> list[ScoredChunk]:
        records = self.client.retrieve(self.collection, ids=list(point_ids), with_payload=True)
        return [ScoredChunk(str(r.id), 0.0, dict(r.payload or {})) for r in records]

    def count(self, flt: SearchFilter | None = None) -> int:
        return self.client.count(
            self.collection, count_filter=_filter(flt.conditions()) if flt else None, exact=True
        ).count

    def close(self) -> None:
        self.client.close()
