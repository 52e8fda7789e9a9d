"""Reciprocal rank fusion and de-duplication of ranked chunk lists."""

from __future__ import annotations

from collections.abc import Sequence

from twin_search.vectorstore.base import ScoredChunk


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[ScoredChunk]], k: int = 60, weights: Sequence[float] | None = None
) -> list[ScoredChunk]:
    """score(chunk) = sum_i w_i / (k + rank_i(chunk)), ranks from 1; a chunk in several lists counts once per list."""
    if k < 0:
        raise ValueError("RRF k must be >= 0")
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[str, float] = {}
    first_seen: dict[str, ScoredChunk] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        seen_here: set[str] = set()
        for rank, hit in enumerate(ranking, start=1):
            if hit.chunk_id in seen_here:
                continue
            seen_here.add(hit.chunk_id)
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + weight / (k + rank)
            first_seen.setdefault(hit.chunk_id, hit)
    ordered = sorted(scores, key=lambda cid: (-scores[cid], cid))
    return [ScoredChunk(cid, scores[cid], first_seen[cid].payload) for cid in ordered]


def dedupe_by_document(hits: Sequence[ScoredChunk]) -> list[ScoredChunk]:
    """Keep the best-ranked chunk of each document, in order."""
    seen: set[str] = set()
    out = []
    for hit in hits:
        if hit.document_id not in seen:
            seen.add(hit.document_id)
            out.append(hit)
    return out
