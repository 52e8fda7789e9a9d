"""The semantic cache on the labelled paraphrase set (`evalsets/paraphrases.jsonl`, written before any threshold was
tried; 40% held out by a hash of the id).

Protocol: every distinct anchor question is cached with its answer key; then each query is looked up. A hit is
correct when the cached answer's key equals the query's key (a paraphrase finds its anchor, or a look-alike
finds the one cached question that really asks the same thing), false otherwise.
- hit rate: correct hits / queries that have a correct answer in the cache (the paraphrases and look-alikes whose
  own question is cached);
- false-hit share: false hits / all hits (the GPT Semantic Cache paper's "hits correct" is 1 minus this);
- look-alike false-hit rate: false hits among look-alike queries / look-alike queries.

`sweep` runs the selection in memory (MiniLM vectors, the cache's own candidate selection and look-alike guard);
`through_redis` runs the same protocol through `AnswerCache` against Redis for the chosen setting.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twin_semcache.cache import AnswerCache, CachedAnswer, select_candidate
from twin_semcache.keys import Scope


def load(split: str | None = None) -> list[dict]:
    path = Path(__file__).parent / "evalsets" / "paraphrases.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if split in (None, "all", r["split"])]


def anchors_of(rows: list[dict]) -> list[tuple[str, str]]:
    """Distinct (question, key) pairs cached before the queries run."""
    return list(dict.fromkeys((r["anchor"], r["anchor_key"]) for r in rows))


@dataclass
class CacheScore:
    threshold: float
    guard: bool
    queries: int
    answerable: int  # queries whose own key is among the anchors
    correct_hits: int
    false_hits: int
    lookalikes: int
    lookalike_false_hits: int

    @property
    def hit_rate(self) -> float:
        return self.correct_hits / self.answerable if self.answerable else 0.0

    @property
    def false_hit_share(self) -> float:
        hits = self.correct_hits + self.false_hits
        return self.false_hits / hits if hits else 0.0

    @property
    def lookalike_false_rate(self) -> float:
        return self.lookalike_false_hits / self.lookalikes if self.lookalikes else 0.0

    def line(self) -> str:
        return (
            f"{self.threshold:.2f}  guard={'on ' if self.guard else 'off'}  hits {self.correct_hits}/{self.answerable}"
            f" = {self.hit_rate:.3f}  false hits {self.false_hits} = {self.false_hit_share:.3f} of hits,"
            f" look-alikes hit {self.lookalike_false_hits}/{self.lookalikes} = {self.lookalike_false_rate:.3f}"
        )


def _score(rows, anchors, chosen_keys, threshold, guard) -> CacheScore:
    anchor_keys = {key for _, key in anchors}
    correct = false = lookalike_false = 0
    for row, key in zip(rows, chosen_keys, strict=True):
        if key is None:
            continue
        if key == row["query_key"]:
            correct += 1
        else:
            false += 1
            lookalike_false += row["kind"] != "paraphrase"
    return CacheScore(
        threshold,
        guard,
        len(rows),
        sum(r["query_key"] in anchor_keys for r in rows),
        correct,
        false,
        sum(r["kind"] != "paraphrase" for r in rows),
        lookalike_false,
    )


def sweep(rows: list[dict], embed_many, thresholds: list[float], candidates: int = 3) -> list[CacheScore]:
    anchors = anchors_of(rows)
    anchor_vectors = np.asarray(embed_many([a for a, _ in anchors]), dtype=np.float32)
    query_vectors = np.asarray(embed_many([r["query"] for r in rows]), dtype=np.float32)
    similarities = query_vectors @ anchor_vectors.T
    entries = [CachedAnswer(answer=key, tenant_id="eval", question=question) for question, key in anchors]
    scores = []
    for guard in (False, True):
        for threshold in thresholds:
            chosen_keys = []
            for row, sims in zip(rows, similarities, strict=True):
                order = np.argsort(-sims)[:candidates]
                found = [(float(sims[i]), entries[i]) for i in order if sims[i] >= threshold]
                chosen, _ = select_candidate(row["query"], found, guard)
                chosen_keys.append(chosen[1].answer if chosen else None)
            scores.append(_score(rows, anchors, chosen_keys, threshold, guard))
    return scores


def through_redis(rows: list[dict], cache: AnswerCache) -> tuple[CacheScore, dict]:
    """The protocol through the real cache (a private scope); also lookup latencies by outcome, in ms."""
    scope = Scope(f"eval-{uuid.uuid4().hex[:8]}", "eval", "v", "t")
    anchors = anchors_of(rows)
    started = time.time()
    for question, key in anchors:
        cache.fill(
            question,
            scope,
            CachedAnswer(answer=key, tenant_id=scope.tenant_id, question=question),
            requested_at=started,
        )
    chosen_keys, latencies = [], {"exact": [], "semantic": [], "none": []}
    for row in rows:
        t0 = time.perf_counter()
        result = cache.lookup(row["query"], scope)
        latencies[result.kind.value].append((time.perf_counter() - t0) * 1000)
        chosen_keys.append(result.entry.answer if result.entry else None)
    for question, _ in anchors:  # exact hits for the latency table
        t0 = time.perf_counter()
        cache.lookup(question, scope)
        latencies["exact"].append((time.perf_counter() - t0) * 1000)
    cache.clear_tenant(scope.tenant_id)
    score = _score(rows, anchors, chosen_keys, cache.settings.similarity_threshold, cache.settings.lookalike_guard)
    return score, latencies
