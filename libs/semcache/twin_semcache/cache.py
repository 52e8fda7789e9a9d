"""The answer cache: an exact cache, then a semantic cache, both in Redis, invalidated by source document.

Keys under the namespace `ns` (default `twin:cache`):
    {ns}:exact:{tenant}:{digest}          an entry found by the normalised question within one scope (JSON, TTL)
    {ns}:semantic:{id}                    an entry of redisvl's SemanticCache (hash + vector, indexed with tags
                                          tenant, scope and documents)
    {ns}:bydoc:{tenant}:{document}        the keys of every entry citing the document (exact and semantic)
    {ns}:invalidated:{tenant}:{document}  when the document last changed (ms), for the fill race below
    {ns}:entries:{tenant}                 every entry of the tenant by creation time (size limit, oldest first)
    {ns}:route-version:{route}            the model version that last answered the route (part of the scope)

Invalidation (`invalidate`) stamps the document's change time, then deletes every key in its `bydoc` set. A fill
that races with it (the answer was generated from the old text, the document changed meanwhile) writes its entry
and its `bydoc` memberships first, then reads the change times of its documents, and deletes what it wrote if
one changed after the request began: either the invalidation saw the membership, or the fill sees the stamp.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import redis
from twin_common.events import CacheHit

from twin_semcache.keys import Scope, exact_digest
from twin_semcache.lookalike import mismatch
from twin_semcache.observe import CacheMetrics
from twin_semcache.settings import CacheSettings

log = logging.getLogger(__name__)

Embed = Callable[[str], list[float]]


@dataclass
class CachedAnswer:
    answer: str
    tenant_id: str
    question: str  # the masked question it answered
    document_ids: list[str] = field(default_factory=list)  # the documents of its context (invalidation keys)
    document_hashes: dict[str, str] = field(default_factory=dict)  # their content hashes when it was answered
    citations: list[dict] = field(default_factory=list)  # as the gateway returns them
    model: str | None = None
    model_version: str | None = None
    template_version: str | None = None
    created_at: float = field(default_factory=time.time)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, data: str | bytes) -> CachedAnswer:
        return cls(**json.loads(data))


@dataclass
class CacheLookup:
    kind: CacheHit
    similarity: float | None = None
    entry: CachedAnswer | None = None
    vector: list[float] | None = None  # the question's embedding, when it was computed (reusable for the fill)
    refused: str | None = None  # a semantic candidate within the threshold was refused by the look-alike guard: why
    key: str | None = None

    @property
    def hit(self) -> bool:
        return self.entry is not None


class AnswerCache:
    def __init__(
        self,
        settings: CacheSettings | None = None,
        *,
        embed: Embed | None = None,
        dimension: int = 384,
        client: redis.Redis | None = None,
        metrics: CacheMetrics | None = None,
    ):
        self.settings = settings or CacheSettings()
        self.client = client or redis.Redis.from_url(self.settings.redis.url)
        self.metrics = metrics or CacheMetrics()
        self.ns = self.settings.namespace
        self.embed = embed
        self.semantic = None
        if self.settings.semantic:
            if embed is None:
                raise ValueError("the semantic cache needs an embed function (the gateway's MiniLM embedder)")
            self.semantic = _semantic_cache(self.settings, embed, dimension, self.client)

    # --- lookup ---------------------------------------------------------------------------------

    def lookup(self, question: str, scope: Scope, *, vector: list[float] | None = None) -> CacheLookup:
        """The cached answer for this question in this scope: exact first, then the nearest earlier question the
        look-alike guard accepts. `vector`: the question's embedding when the caller has it already."""
        started = time.perf_counter()
        result = self._lookup(question, scope, vector)
        kind = result.kind.value if result.hit or not result.refused else "refused"
        self.metrics.lookups.labels(kind).inc()
        self.metrics.lookup_seconds.labels(result.kind.value).observe(time.perf_counter() - started)
        if result.kind is CacheHit.SEMANTIC and result.similarity is not None:
            self.metrics.similarity.observe(result.similarity)
        return result

    def _lookup(self, question: str, scope: Scope, vector: list[float] | None) -> CacheLookup:
        key = self._exact_key(scope, question)
        raw = self.client.get(key)
        if raw is not None:
            entry = CachedAnswer.from_json(raw)
            if entry.tenant_id == scope.tenant_id:
                return CacheLookup(CacheHit.EXACT, 1.0, entry, key=key)
            log.error(
                "exact cache entry %s holds tenant %s, asked by %s: ignored", key, entry.tenant_id, scope.tenant_id
            )
        if self.semantic is None:
            return CacheLookup(CacheHit.NONE)
        from redisvl.query.filter import Tag

        if vector is None:
            vector = self.embed(question)
        candidates = self.semantic.check(
            vector=vector,
            num_results=self.settings.candidates,
            filter_expression=(Tag("tenant") == scope.tenant_id) & (Tag("scope") == scope.scope_id),
            distance_threshold=1.0 - self.settings.similarity_threshold,
        )
        entries = []
        for candidate in candidates:
            metadata = candidate["metadata"]
            entry = CachedAnswer.from_json(metadata) if isinstance(metadata, str | bytes) else CachedAnswer(**metadata)
            if entry.tenant_id != scope.tenant_id:
                log.error("semantic entry of tenant %s returned to %s: ignored", entry.tenant_id, scope.tenant_id)
                continue
            entries.append((1.0 - float(candidate["vector_distance"]), entry, candidate.get("key")))
        chosen, refused = select_candidate(question, entries, self.settings.lookalike_guard)
        if chosen is None:
            return CacheLookup(CacheHit.NONE, vector=vector, refused=refused)
        similarity, entry, key = chosen
        return CacheLookup(CacheHit.SEMANTIC, similarity, entry, vector, key=key)

    # --- fill -----------------------------------------------------------------------------------

    def fill(
        self,
        question: str,
        scope: Scope,
        entry: CachedAnswer,
        *,
        requested_at: float,
        vector: list[float] | None = None,
    ) -> bool:
        """Store an answer for this question and scope. `requested_at` (epoch seconds): when the request began; the
        entry is withdrawn if a document it cites changed after that. False when it was withdrawn."""
        tenant = scope.tenant_id
        ttl = self.settings.ttl_s
        keys = [self._exact_key(scope, question)]
        self.client.set(keys[0], entry.to_json(), ex=ttl)
        if self.semantic is not None:
            documents = ",".join(entry.document_ids) if entry.document_ids else "-"
            semantic_key = self.semantic.store(
                prompt=entry.question,
                response=entry.answer,
                vector=vector if vector is not None else self.embed(question),
                metadata=asdict(entry),
                filters={"tenant": tenant, "scope": scope.scope_id, "documents": documents},
                ttl=ttl,
            )
            keys.append(semantic_key)
        now_ms = int(time.time() * 1000)
        with self.client.pipeline(transaction=False) as pipe:
            for document in entry.document_ids:
                pipe.sadd(self._bydoc(tenant, document), *keys)
                pipe.expire(self._bydoc(tenant, document), ttl + 3600)
            pipe.zadd(self._entries(tenant), {k: now_ms for k in keys})
            pipe.expire(self._entries(tenant), ttl + 3600)
            pipe.execute()
        if entry.document_ids:
            stamps = self.client.mget([self._invalidated(tenant, d) for d in entry.document_ids])
            if any(s is not None and int(s) >= requested_at * 1000 for s in stamps):
                self._delete(tenant, keys)
                self.metrics.skips.labels("document_changed").inc()
                return False
        self._evict(tenant)
        self.metrics.fills.inc()
        return True

    # --- invalidation ---------------------------------------------------------------------------

    def invalidate(self, tenant_id: str, document_id: str, *, changed_at: float | None = None) -> int:
        """Remove every entry (exact and semantic) citing the document; how many keys were removed."""
        stamp = int((changed_at or time.time()) * 1000)
        invalidated = self._invalidated(tenant_id, document_id)
        current = self.client.get(invalidated)
        if current is None or int(current) < stamp:
            self.client.set(invalidated, stamp, ex=self.settings.ttl_s + 3600)
        bydoc = self._bydoc(tenant_id, document_id)
        keys = [k.decode() if isinstance(k, bytes) else k for k in self.client.smembers(bydoc)]
        removed = self._delete(tenant_id, keys) if keys else 0
        self.client.delete(bydoc)
        self.metrics.invalidated.inc(removed)
        return removed

    def clear_tenant(self, tenant_id: str) -> int:
        """Remove every entry of one tenant (e.g. when a tenant is deleted)."""
        keys = [k.decode() for k in self.client.zrange(self._entries(tenant_id), 0, -1)]
        return self._delete(tenant_id, keys) if keys else 0

    # --- which model version answers a route --------------------------------------------------------

    def route_version(self, route: str) -> str | None:
        """The model version that last answered the route (the scope lookups use until a new version answers)."""
        value = self.client.get(f"{self.ns}:route-version:{route}")
        return value.decode() if value is not None else None

    def note_route_version(self, route: str, version: str) -> None:
        self.client.set(f"{self.ns}:route-version:{route}", version)

    # --- internals ------------------------------------------------------------------------------

    def _delete(self, tenant: str, keys: list[str]) -> int:
        with self.client.pipeline(transaction=False) as pipe:
            pipe.delete(*keys)
            pipe.zrem(self._entries(tenant), *keys)
            removed, _ = pipe.execute()
        return int(removed)

    def _evict(self, tenant: str) -> None:
        excess = self.client.zcard(self._entries(tenant)) - self.settings.max_entries_per_tenant
        if excess > 0:
            oldest = [k.decode() for k, _ in self.client.zpopmin(self._entries(tenant), excess)]
            self.client.delete(*oldest)
            self.metrics.evicted.inc(len(oldest))

    def _exact_key(self, scope: Scope, question: str) -> str:
        return f"{self.ns}:exact:{scope.tenant_id}:{exact_digest(scope, question)}"

    def _bydoc(self, tenant: str, document: str) -> str:
        return f"{self.ns}:bydoc:{tenant}:{document}"

    def _invalidated(self, tenant: str, document: str) -> str:
        return f"{self.ns}:invalidated:{tenant}:{document}"

    def _entries(self, tenant: str) -> str:
        return f"{self.ns}:entries:{tenant}"


def select_candidate(question: str, candidates: list[tuple], guard: bool = True) -> tuple[tuple | None, str | None]:
    """The first of the (similarity, entry, ...) candidates, nearest first, that the look-alike guard lets through,
    and the reason the first refused one was refused."""
    refused = None
    for candidate in sorted(candidates, key=lambda c: -c[0]):
        why = mismatch(question, candidate[1].question) if guard else None
        if why is None:
            return candidate, refused
        refused = refused or why
    return None, refused


def _semantic_cache(settings: CacheSettings, embed: Embed, dimension: int, client: redis.Redis):
    """redisvl's SemanticCache over our own vectorizer (without one it tries to download a model from a hub)."""
    from redisvl.extensions.cache.llm import SemanticCache
    from redisvl.utils.vectorize import CustomVectorizer

    vectorizer = CustomVectorizer(embed=embed, embed_many=lambda texts: [embed(t) for t in texts])
    if vectorizer.dims != dimension:
        raise ValueError(f"the embed function returns {vectorizer.dims} dimensions, expected {dimension}")
    return SemanticCache(
        name=f"{settings.namespace}:semantic",
        distance_threshold=1.0 - settings.similarity_threshold,
        # no cache-wide TTL: each entry gets its TTL when stored (`fill`), fixed from then on. redisvl would
        # refresh a cache-wide TTL on every hit, and a popular answer would never expire: a new document that would
        # change it invalidates nothing (only updates and deletes do), so the TTL is what bounds that staleness.
        ttl=None,
        vectorizer=vectorizer,
        filterable_fields=[
            {"name": "tenant", "type": "tag"},
            {"name": "scope", "type": "tag"},
            {"name": "documents", "type": "tag"},
        ],
        redis_client=client,
    )


def minilm_embed(embedder) -> Embed:
    """An embed function from a twin_search Embedder (normalised MiniLM rows)."""

    def embed(text: str) -> list[float]:
        return np.asarray(embedder.embed([text])[0], dtype=np.float32).tolist()

    return embed
