"""Training pairs for the cross-encoder: each fit query with its judged positives and hard negatives mined
from the retrievers (BM25 and dense), never a judged-relevant passage as a negative, never a heldout query."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Pair:
    query_id: str
    query: str
    doc_id: str
    passage: str
    label: float


# query text -> ranked (doc_id, passage) candidates from one retriever
Miner = Callable[[str], Sequence[tuple[str, str]]]


def build_pairs(
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    fit_query_ids: Sequence[str],
    heldout_query_ids: Sequence[str],
    positive_passage: Callable[[str], str],
    miners: Sequence[Miner],
    negatives_per_query: int = 8,
    seed: int = 13,
) -> list[Pair]:
    """Positives from the qrels; negatives alternate between the miners' top candidates (hard negatives)."""
    leaked = set(fit_query_ids) & set(heldout_query_ids)
    if leaked:
        raise ValueError(f"queries in both fit and heldout: {sorted(leaked)[:5]}")
    rng = random.Random(seed)
    pairs: list[Pair] = []
    for qid in fit_query_ids:
        relevant = {doc for doc, rel in qrels.get(qid, {}).items() if rel > 0}
        if not relevant:
            continue
        query = queries[qid]
        pairs += [Pair(qid, query, doc, positive_passage(doc), 1.0) for doc in sorted(relevant)]
        ranked_lists = [[c for c in miner(query) if c[0] not in relevant] for miner in miners]
        negatives: dict[str, str] = {}
        rank = 0
        while len(negatives) < negatives_per_query and any(rank < len(r) for r in ranked_lists):
            for ranked in ranked_lists:  # interleave: the hardest of each retriever first
                if rank < len(ranked) and len(negatives) < negatives_per_query:
                    negatives.setdefault(*ranked[rank])
            rank += 1
        pairs += [Pair(qid, query, doc, passage, 0.0) for doc, passage in negatives.items()]
    rng.shuffle(pairs)
    return pairs
