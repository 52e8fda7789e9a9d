"""The retrieval evaluation harness.

Bulk path: every corpus document becomes a DocumentRow and goes through the same DocumentIndexer the
streaming embedder uses (clean -> chunk -> embed -> BM25 -> embedded Qdrant). Chunk vectors are cached on
disk, keyed by the corpus fingerprint, the chunking settings and the model, so a rerun skips embedding.
Then each configuration runs every judged query and is scored on the heldout split and on all queries.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from twin_cli.progress import NULL_PROGRESS, ProgressReporter, track
from twin_common.documents import DocumentKind, DocumentRow

from twin_search.chunking import Chunk
from twin_search.embedding import Embedder
from twin_search.eval.beir import BeirDataset, split_queries
from twin_search.eval.metrics import mrr_at_k, ndcg_at_k, percentile, recall_at_k
from twin_search.indexer import DocumentIndexer
from twin_search.rerank import Reranker
from twin_search.retriever import HybridRetriever, Mode, RetrievalSettings
from twin_search.rewrite import QueryExpander
from twin_search.vectorstore.base import SearchFilter
from twin_search.vectorstore.edge import EdgeVectorStore

EVAL_TENANT = "eval"
EMBED_BATCH = 256  # chunks per embedding call: the unit of progress (the model batches inside it)


@dataclass
class ConfigReport:
    name: str
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # split -> metric -> value
    latency_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # stage -> samples


@dataclass
class EvalReport:
    dataset: str
    documents: int
    chunks: int
    queries: dict[str, int]
    index_seconds: float
    embedded_from_cache: bool
    configs: list[ConfigReport]
    rerank_skipped: str | None = None  # why hybrid+rerank was not run (None when it ran)

    def table(self) -> str:
        lines = [
            f"dataset {self.dataset}: {self.documents} documents, {self.chunks} chunks; queries "
            + ", ".join(f"{k} {v}" for k, v in self.queries.items())
            + f"; indexing {self.index_seconds:.1f} s (vectors {'from cache' if self.embedded_from_cache else 'computed'})"
        ]
        for split in self.queries:
            lines.append("")
            lines.append(f"[{split} queries]  {'config':<18} {'nDCG@10':>8} {'Recall@100':>11} {'MRR@10':>8}")
            for config in self.configs:
                if split in config.scores:
                    s = config.scores[split]
                    lines.append(
                        f"{'':<19}{config.name:<18} {s['ndcg@10']:>8.4f} {s['recall@100']:>11.4f} {s['mrr@10']:>8.4f}"
                    )
            if not self.queries[split]:
                lines.append(f"{'':<19}no queries fall in this split")
            elif self.rerank_skipped:
                lines.append(f"{'':<19}{'hybrid+rerank':<18} skipped: {self.rerank_skipped}")
        lines.append("")
        lines.append("latency per query and stage, ms (p50 / p95)")
        for config in self.configs:
            stages = ", ".join(
                f"{stage} {percentile(v, 50):.1f}/{percentile(v, 95):.1f}" for stage, v in config.latency_ms.items()
            )
            lines.append(f"  {config.name:<18} {stages}")
        return "\n".join(lines)


def corpus_rows(dataset: BeirDataset) -> list[DocumentRow]:
    return [
        DocumentRow(
            id=doc.doc_id,
            tenant_id=EVAL_TENANT,
            author_id="eval",
            kind=DocumentKind.ARTICLE,
            external_id=doc.doc_id,
            title=doc.title,
            content=doc.text,
            content_hash=hashlib.sha1(f"{doc.title}\n{doc.text}".encode()).hexdigest(),
        )
        for doc in dataset.corpus.values()
    ]


def vector_cache_key(chunks: list[Chunk], embedder: Embedder) -> str:
    """Vectors depend on exactly the chunk texts and the model: key the cache on both."""
    digest = hashlib.sha1(f"{embedder.model_name}|{embedder.model_version}".encode())
    for chunk in chunks:
        digest.update(chunk.text.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def embed_with_progress(
    indexer: DocumentIndexer, chunks: list[Chunk], progress: ProgressReporter = NULL_PROGRESS
) -> np.ndarray:
    """The chunks' vectors, embedded EMBED_BATCH at a time so a long embedding reports its progress."""
    parts = []
    with progress.task("embedding chunks", total=len(chunks), unit="chunks") as task:
        for start in range(0, len(chunks), EMBED_BATCH):
            batch = chunks[start : start + EMBED_BATCH]
            parts.append(indexer.embed_chunks(batch))
            task.advance(len(batch))
    if not parts:
        return indexer.embed_chunks([])
    return np.concatenate(parts)


def build_index(
    dataset: BeirDataset,
    embedder: Embedder,
    store_dir: Path,
    cache_dir: Path | None,
    progress: ProgressReporter = NULL_PROGRESS,
) -> tuple[DocumentIndexer, int, float, bool]:
    store = EdgeVectorStore(store_dir)
    indexer = DocumentIndexer(store, embedder)
    started = time.perf_counter()
    rows = corpus_rows(dataset)
    chunks = [c for row in rows for c in indexer.chunker.chunk(row)]
    key = vector_cache_key(chunks, embedder)
    cache = cache_dir / f"{dataset.name}-{key}.npy" if cache_dir else None
    from_cache = bool(cache and cache.exists())
    vectors = np.load(cache) if from_cache else embed_with_progress(indexer, chunks, progress)
    if cache and not from_cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, vectors)
    items = indexer.prepare(chunks, vectors)
    with progress.task("indexing chunks", total=len(items), unit="chunks") as task:
        for start in range(0, len(items), 512):
            store.upsert(items[start : start + 512])
            task.advance(len(items[start : start + 512]))
    return indexer, len(chunks), time.perf_counter() - started, from_cache


def evaluate(
    dataset: BeirDataset,
    embedder: Embedder,
    reranker: Reranker | None = None,
    settings: RetrievalSettings | None = None,
    cache_dir: Path | None = None,
    heldout_fraction: float = 0.3,
    max_queries: int | None = None,
    expander: QueryExpander | None = None,
    expansions: int = 0,
    progress: ProgressReporter = NULL_PROGRESS,
) -> EvalReport:
    settings = settings or RetrievalSettings(candidates=200)
    judged = dataset.judged_queries()
    if max_queries:
        judged = judged[:max_queries]
    _, heldout = split_queries(judged, heldout_fraction)
    splits = {"heldout": heldout, "all": judged}
    with tempfile.TemporaryDirectory(prefix="twin-eval-") as tmp:
        indexer, n_chunks, index_seconds, from_cache = build_index(
            dataset, embedder, Path(tmp) / "store", cache_dir, progress
        )
        plain = HybridRetriever(indexer.store, embedder, indexer.bm25, settings, reranker=reranker)
        expanding = None
        if expander is not None and expansions > 0:
            expanding = HybridRetriever(
                indexer.store,
                embedder,
                indexer.bm25,
                replace(settings, expansions=expansions),
                reranker=reranker,
                expander=expander,
            )
        flt = SearchFilter(tenant_id=EVAL_TENANT)
        configs = [
            ("bm25", Mode.BM25, False, plain),
            ("dense", Mode.DENSE, False, plain),
            ("hybrid", Mode.HYBRID, False, plain),
        ]
        if expanding is not None:
            configs.append((f"hybrid+expand{expansions}", Mode.HYBRID, False, expanding))
        if reranker is not None:
            configs.append(("hybrid+rerank", Mode.HYBRID, True, plain))
            fused = HybridRetriever(
                indexer.store, embedder, indexer.bm25, replace(settings, rerank_fusion="rrf"), reranker=reranker
            )
            configs.append(("hybrid+rerank-rrf", Mode.HYBRID, True, fused))
        reports = []
        for name, mode, rerank, retriever in configs:
            report = ConfigReport(name)
            ranked: dict[str, list[str]] = {}
            # a learned stage is scored on heldout queries only: it trained on the others
            queries = heldout if rerank else judged
            for qid in track(queries, progress, f"queries {name}", unit="queries"):
                started = time.perf_counter()
                result = retriever.search(dataset.queries[qid], flt, top_k=100, mode=mode, rerank=rerank)
                report.latency_ms["total"].append((time.perf_counter() - started) * 1000)
                for stage, ms in result.timings_ms.items():
                    report.latency_ms[stage].append(ms)
                ranked[qid] = [hit.document_id for hit in result.hits]
            for split, qids in splits.items():
                if not qids or (rerank and split != "heldout"):
                    continue  # an empty split has no score (not NaN)
                report.scores[split] = {
                    "ndcg@10": float(np.mean([ndcg_at_k(ranked[q], dataset.qrels[q], 10) for q in qids])),
                    "recall@100": float(np.mean([recall_at_k(ranked[q], dataset.qrels[q], 100) for q in qids])),
                    "mrr@10": float(np.mean([mrr_at_k(ranked[q], dataset.qrels[q], 10) for q in qids])),
                }
            reports.append(report)
        indexer.store.close()
    return EvalReport(
        dataset.name,
        len(dataset.corpus),
        n_chunks,
        {k: len(v) for k, v in splits.items()},
        index_seconds,
        from_cache,
        reports,
        rerank_skipped=None if reranker is not None else "no reranker given (--reranker-dir / --reranker-alias)",
    )
