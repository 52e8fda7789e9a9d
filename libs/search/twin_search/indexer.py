"""Applying documents to the vector store: chunk, embed, BM25-encode, upsert, and drop stale chunks.

One code path for the streaming embedder (one change at a time) and for bulk loads (the evaluation harness),
so what is measured is what runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from opentelemetry import trace
from twin_common.documents import DocumentRow

from twin_search.chunking import Chunk, Chunker
from twin_search.embedding import Embedder
from twin_search.sparse import Bm25Encoder
from twin_search.vectorstore.base import IndexedChunk, VectorStore

tracer = trace.get_tracer("twin_search.indexer")


@dataclass(frozen=True)
class IndexResult:
    document_id: str
    chunks: int
    stale_removed: int


class DocumentIndexer:
    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        bm25: Bm25Encoder | None = None,
        chunker: Chunker | None = None,
        batch_size: int = 64,
    ):
        self.store = store
        self.embedder = embedder
        self.bm25 = bm25 or Bm25Encoder()
        self.chunker = chunker or Chunker(embedder.count_tokens, embedder.model_name, embedder.model_version)
        self.batch_size = batch_size
        store.ensure_collection(embedder.dimension)

    def prepare(self, chunks: list[Chunk], vectors: np.ndarray | None = None) -> list[IndexedChunk]:
        if vectors is None:
            vectors = self.embedder.embed([c.text for c in chunks])
        return [IndexedChunk(c, v, self.bm25.encode_document(c.text)) for c, v in zip(chunks, vectors, strict=True)]

    def index(self, doc: DocumentRow) -> IndexResult:
        """Make the store hold exactly this version of the document's chunks."""
        return self.index_many([doc])[0]

    def index_many(
        self, docs: Iterable[DocumentRow], vectors: np.ndarray | None = None, chunks: list[list[Chunk]] | None = None
    ) -> list[IndexResult]:
        """`chunks`, when the caller already chunked the documents: one list per document, in order."""
        docs = list(docs)
        if chunks is not None and len(chunks) != len(docs):
            raise ValueError(f"{len(chunks)} chunk lists for {len(docs)} documents")
        chunked = list(
            zip(docs, chunks if chunks is not None else [self.chunker.chunk(doc) for doc in docs], strict=True)
        )
        all_chunks = [c for _, doc_chunks in chunked for c in doc_chunks]
        if vectors is None:
            vectors = self.embed_chunks(all_chunks)
        items = self.prepare(all_chunks, vectors)
        with self._store_span("upsert", len(items)):
            for start in range(0, len(items), 512):
                self.store.upsert(items[start : start + 512])
        results = []
        with self._store_span("delete_stale", len(chunked)):
            for doc, doc_chunks in chunked:
                fresh = {c.chunk_id for c in doc_chunks}
                stale = sorted(self.store.document_point_ids(doc.tenant_id, doc.id) - fresh)
                self.store.delete_points(stale)
                results.append(IndexResult(doc.id, len(doc_chunks), len(stale)))
        return results

    def embed_chunks(self, chunks: list[Chunk]) -> np.ndarray:
        attributes = {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.request.model": self.embedder.model_name,
            "twin.chunks": len(chunks),
        }
        with tracer.start_as_current_span(f"embeddings {self.embedder.model_name}", attributes=attributes):
            return self.embedder.embed([c.text for c in chunks])

    def _store_span(self, operation: str, count: int):
        """A database-client span of a vector store write (db.* semantic conventions; Qdrant server or edge)."""
        collection = getattr(self.store, "collection", "twin_chunks")
        return tracer.start_as_current_span(
            f"{operation} {collection}",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "db.system.name": "qdrant",
                "db.operation.name": operation,
                "db.collection.name": collection,
                "db.operation.batch.size": count,
            },
        )

    def remove(self, tenant_id: str, document_id: str) -> None:
        self.store.delete_document(tenant_id, document_id)
