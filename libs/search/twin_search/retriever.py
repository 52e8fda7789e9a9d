"""Hybrid retrieval: dense and BM25 searches inside the vector store (filtered there), fused with RRF,
de-duplicated, optionally reranked by a cross-encoder; each stage timed."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum

from twin_search.embedding import Embedder
from twin_search.fusion import dedupe_by_document, reciprocal_rank_fusion
from twin_search.rerank import Reranker
from twin_search.rewrite import QueryExpander, expand
from twin_search.sparse import Bm25Encoder
from twin_search.vectorstore.base import ScoredChunk, SearchFilter, VectorStore


class Mode(StrEnum):
    DENSE = "dense"
    BM25 = "bm25"
    HYBRID = "hybrid"


@dataclass(frozen=True)
class RetrievalSettings:
    candidates: int = 100  # per search, before fusion
    rrf_k: int = 60
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    rerank_top_n: int = 30
    rerank_fusion: str = "replace"  # "replace": the reranker's order; "rrf": RRF of the retrieval and reranker orders
    expansions: int = 0

    def __post_init__(self) -> None:
        if self.rerank_fusion not in ("replace", "rrf"):
            raise ValueError(f"rerank_fusion must be 'replace' or 'rrf', not {self.rerank_fusion!r}")


@dataclass
class RetrievalResult:
    hits: list[ScoredChunk]
    timings_ms: dict[str, float] = field(default_factory=dict)
    reranked: bool = False
    queries: list[str] = field(default_factory=list)


class HybridRetriever:
    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        bm25: Bm25Encoder | None = None,
        settings: RetrievalSettings | None = None,
        reranker: Reranker | None = None,
        expander: QueryExpander | None = None,
    ):
        self.store = store
        self.embedder = embedder
        self.bm25 = bm25 or Bm25Encoder()
        self.settings = settings or RetrievalSettings()
        self.reranker = reranker
        self.expander = expander

    def search(
        self,
        query: str,
        flt: SearchFilter,
        top_k: int = 10,
        mode: Mode = Mode.HYBRID,
        rerank: bool = True,
        per_document: bool = True,
    ) -> RetrievalResult:
        result = RetrievalResult(hits=[])
        timer = _Timer(result.timings_ms)
        if self.expander is not None and self.settings.expansions > 0:
            with timer("expand"):
                queries = expand(query, self.expander, self.settings.expansions)
        else:
            queries = [query]
        result.queries = queries
        rankings: list[list[ScoredChunk]] = []
        weights: list[float] = []
        limit = self.settings.candidates
        if mode in (Mode.DENSE, Mode.HYBRID):
            with timer("embed"):
                vectors = self.embedder.embed(queries)
            with timer("dense"):
                rankings += self._parallel(lambda v: self.store.search_dense(v, flt, limit), list(vectors))
            weights += [self.settings.dense_weight] * len(queries)
        if mode in (Mode.BM25, Mode.HYBRID):
            with timer("sparse"):
                sparse = [self.bm25.encode_query(q) for q in queries]
                rankings += self._parallel(lambda s: self.store.search_sparse(s, flt, limit), sparse)
            weights += [self.settings.sparse_weight] * len(queries)
        with timer("fusion"):
            if len(rankings) == 1:
                fused = rankings[0]
            else:
                fused = reciprocal_rank_fusion(rankings, k=self.settings.rrf_k, weights=weights)
            if per_document:
                fused = dedupe_by_document(fused)
        if rerank and self.reranker is not None and fused:
            with timer("rerank"):
                head = fused[: self.settings.rerank_top_n]
                scores = self.reranker.score(query, [h.payload["text"] for h in head])
                reranked = sorted(zip(scores, range(len(head)), head, strict=True), key=lambda t: (-t[0], t[1]))
                reranked_head = [ScoredChunk(h.chunk_id, s, h.payload) for s, _, h in reranked]
                if self.settings.rerank_fusion == "rrf":
                    reranked_head = reciprocal_rank_fusion([head, reranked_head], k=self.settings.rrf_k)
                fused = reranked_head + fused[len(head) :]
                result.reranked = True
        result.hits = fused[:top_k]
        return result

    @staticmethod
    def _parallel(fn, items: list) -> list[list[ScoredChunk]]:
        if len(items) == 1:
            return [fn(items[0])]
        with ThreadPoolExecutor(max_workers=min(4, len(items))) as pool:
            return list(pool.map(fn, items))


class _Timer:
    """Adds each stage's wall time (ms) to a dict: `with timer("dense"): ...`."""

    def __init__(self, sink: dict[str, float]):
        self.sink = sink

    @contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.sink[name] = self.sink.get(name, 0.0) + (time.perf_counter() - start) * 1000
