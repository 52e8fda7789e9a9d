"""The cache's metrics: lookups by outcome (the hit rate by kind is exact/semantic over all), similarity of semantic
hits, fills and the reasons answers were not cached, invalidations and their delay after the document changed."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

SIMILARITY_BUCKETS = (0.8, 0.84, 0.86, 0.88, 0.9, 0.92, 0.94, 0.96, 0.98, 0.99, 1.0)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
DELAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class CacheMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = r = registry or CollectorRegistry()
        self.lookups = Counter(
            "twin_cache_lookups",
            "Cache lookups by outcome: exact, semantic, none, or refused (a look-alike).",
            ["kind"],
            registry=r,
        )
        self.similarity = Histogram(
            "twin_cache_semantic_similarity",
            "Cosine similarity of served semantic hits.",
            buckets=SIMILARITY_BUCKETS,
            registry=r,
        )
        self.lookup_seconds = Histogram(
            "twin_cache_lookup_seconds",
            "Time of one lookup (embedding included) by outcome.",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.fills = Counter("twin_cache_fills", "Answers stored.", registry=r)
        self.skips = Counter("twin_cache_skips", "Answers not stored, by reason.", ["reason"], registry=r)
        self.invalidated = Counter(
            "twin_cache_invalidated_entries", "Entries removed because a document they cite changed.", registry=r
        )
        self.invalidation_delay = Histogram(
            "twin_cache_invalidation_delay_seconds",
            "From the DocumentIndexed event's time to the removal of every entry citing the document.",
            buckets=DELAY_BUCKETS,
            registry=r,
        )
        self.evicted = Counter("twin_cache_evicted_entries", "Oldest entries removed past the size limit.", registry=r)
