"""Retrieval for the gateway: twin_search's hybrid retriever inside the caller's tenant, the context within a
token budget with numbered citations, and the check that every cited document still exists in the tenant.

The search itself is blocking (embedding, the store): callers run it on the gateway's worker threads.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from twin_search.context import build_context
from twin_search.embedding import Embedder
from twin_search.retriever import HybridRetriever, Mode, RetrievalSettings
from twin_search.vectorstore.base import ScoredChunk, SearchFilter, VectorStore

from twin_gateway.db import Database
from twin_gateway.pipeline.context import Citation, Filters
from twin_gateway.rag.memo import TextMemo
from twin_gateway.settings import RagSettings

SNIPPET_CHARS = 240


class MemoEmbedder:
    """An Embedder that remembers the vectors of the last texts it embedded, so the intent classifier and the
    retriever embed a question once between them, and the token counts of the last texts it counted (the context
    builder counts the same popular passages request after request: a tokenizer call each, 2-4 % of the gateway's
    CPU per request before)."""

    def __init__(self, inner: Embedder, size: int = 2048):
        self.inner = inner
        self.model_name = inner.model_name
        self.model_version = inner.model_version
        self.dimension = inner.dimension
        self._vectors: TextMemo[np.ndarray] = TextMemo(size)
        # a pure function of the text for a given tokenizer; lru_cache is thread-safe
        self._count_tokens = functools.lru_cache(maxsize=size)(inner.count_tokens)

    def count_tokens(self, text: str) -> int:
        return self._count_tokens(text)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack(self._vectors.many(texts, self.inner.embed))


@dataclass(frozen=True)
class BuiltContext:
    text: str
    citations: list[Citation]
    tokens: int


class TenantRetriever:
    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        settings: RagSettings,
        db: Database,
        reranker=None,
    ):
        self.store = store
        self.embedder = embedder if isinstance(embedder, MemoEmbedder) else MemoEmbedder(embedder)
        self.settings = settings
        self.db = db
        self.retriever = HybridRetriever(
            store, self.embedder, settings=RetrievalSettings(candidates=settings.candidates), reranker=reranker
        )
        store.ensure_collection(self.embedder.dimension)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embedder.embed([text])[0]

    def search(self, tenant_id: str, query: str, filters: Filters, top_k: int, rerank: bool) -> list[ScoredChunk]:
        flt = SearchFilter(tenant_id, tuple(filters.author_ids), tuple(filters.kinds), tuple(filters.tags))
        result = self.retriever.search(query, flt, top_k=top_k, mode=Mode.HYBRID, rerank=rerank)
        # the store filtered on the tenant; this is the second lock on the door
        return [h for h in result.hits if h.payload.get("tenant_id") == tenant_id]

    def context(self, hits: list[ScoredChunk], top_k: int) -> BuiltContext:
        built = build_context(hits, self.embedder.count_tokens, self.settings.context_token_budget, top_k)
        texts = {(h.payload["document_id"], int(h.payload.get("position", 0))): h.payload["text"] for h in hits}
        citations = [
            Citation(
                number=i + 1,
                document_id=c.document_id,
                title=c.title,
                url=c.url,
                position=c.position,
                score=float(c.score),
                snippet=texts.get((c.document_id, c.position), "")[:SNIPPET_CHARS],
            )
            for i, c in enumerate(built.citations)
        ]
        return BuiltContext(built.text, citations, built.tokens)

    async def existing_documents(self, tenant_id: str, document_ids: list[str]) -> set[str]:
        """Which of these documents exist in the tenant now (the source of truth: PostgreSQL)."""
        if not document_ids:
            return set()
        rows = await self.db.fetch(
            "SELECT id::text AS id FROM documents WHERE tenant_id = %s AND id = ANY(%s::uuid[])",
            (tenant_id, list(document_ids)),
            what="the document store",
        )
        return {r["id"] for r in rows}

    def close(self) -> None:
        return None  # the store belongs to whoever opened it (the gateway's run() or `twin node`)
