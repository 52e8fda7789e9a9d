"""Stage `cache_lookup`: an answer from twin_semcache before any retrieval or generation.

The scope is the tenant, the route, the model version that last answered the route, the prompt template's version
and everything that changes what is retrieved or generated (filters, top_k, rerank, sampling). The question is the
masked `ctx.prompt_text` and its embedding is the route stage's (`ctx.query_embedding`, same MiniLM), so a
semantic lookup costs one Redis query. Personal, time-sensitive and multi-turn requests do not look. A hit answers
early with the stored citations, after checking in PostgreSQL that every document of its context still exists
with the same content hash (so an edit is never answered from the cache, even before the invalidator removed
the entry).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time

from opentelemetry import trace
from twin_common.events import CacheHit
from twin_semcache.cache import AnswerCache, minilm_embed
from twin_semcache.keys import Scope
from twin_semcache.observe import CacheMetrics
from twin_semcache.policy import lookup_skip
from twin_semcache.settings import CacheSettings

from twin_gateway.pipeline.context import Citation, RequestContext
from twin_gateway.pipeline.stage import Stage
from twin_gateway.stages.input_rails import PERSONAL

log = logging.getLogger(__name__)
LOOKED_UP = "cache_scope"  # ctx.log_fields key: the model version the lookup's scope used
MISSED_AT = "cache_missed_at"  # ctx.log_fields key: when the lookup missed (epoch s): retrieval starts after it


def cache_for(resources) -> AnswerCache | None:
    """The process's answer cache, built on first use (None when TWIN_SEMCACHE_ENABLED=false)."""
    if "semcache" not in resources.extra:
        settings = CacheSettings()
        cache = None
        if settings.enabled:
            embedder = resources.retriever.embedder
            cache = AnswerCache(
                settings,
                embed=minilm_embed(embedder),
                dimension=embedder.dimension,
                metrics=resources.metrics.component("semcache", CacheMetrics),
            )
        resources.extra["semcache"] = cache
    return resources.extra["semcache"]


def scope_of(ctx: RequestContext, model_version: str | None) -> Scope:
    request = ctx.request
    return Scope(
        tenant_id=ctx.tenant_id,
        route=ctx.route or "",
        model_version=model_version or "",
        template_version=ctx.template_version or "",
        filters={
            **{k: list(v) for k, v in dataclasses.asdict(request.filters).items()},
            "top_k": request.top_k,
            "rerank": request.rerank,
            "generation": dataclasses.asdict(request.generation),
        },
    )


def cacheable_request(ctx: RequestContext, cache: AnswerCache) -> bool:
    if ctx.tenant_id in cache.settings.disabled_tenants:
        return False
    skip = lookup_skip(
        use_cache=ctx.request.use_cache,
        personal=bool(ctx.log_fields.get(PERSONAL)) or bool(ctx.reverse_map),
        question=ctx.prompt_text,
        history_turns=len(ctx.request.history),
    )
    if skip is not None:
        ctx.log_fields["cache_skip"] = skip.value
    return skip is None


class CacheLookupStage(Stage):
    name = "cache_lookup"

    def __init__(self, resources, cache: AnswerCache):
        self.resources = resources
        self.cache = cache

    @classmethod
    def build(cls, resources) -> CacheLookupStage | None:
        cache = cache_for(resources)
        return cls(resources, cache) if cache is not None else None

    async def run(self, ctx: RequestContext) -> None:
        if not cacheable_request(ctx, self.cache):
            return
        r = self.resources
        try:
            version = await r.run_blocking(self.cache.route_version, ctx.route or "")
            scope = scope_of(ctx, version)
            result = await r.run_blocking(
                functools.partial(self.cache.lookup, ctx.prompt_text, scope, vector=ctx.query_embedding)
            )
        except Exception as exc:  # the cache unreachable is a miss, never a failed request
            log.warning("cache lookup failed for request %s: %r", ctx.request_id, exc)
            return
        ctx.log_fields[LOOKED_UP] = version or ""
        span = trace.get_current_span()
        span.set_attribute("twin.cache.kind", result.kind.value)
        if result.refused:
            span.set_attribute("twin.cache.refused", result.refused)
        if not result.hit:
            ctx.log_fields[MISSED_AT] = time.time()
            return
        entry = result.entry
        if entry.document_ids and r.settings.rag.verify_citations:
            changed = await self._changed_documents(ctx.tenant_id, entry.document_hashes, entry.document_ids)
            if changed:  # edited or deleted a moment ago, the invalidator has not caught up: a miss, and help it
                for document in changed:
                    await r.run_blocking(self.cache.invalidate, ctx.tenant_id, document)
                span.set_attribute("twin.cache.kind", "stale")
                ctx.log_fields[MISSED_AT] = time.time()
                return
        ctx.cache_hit = CacheHit(result.kind)
        ctx.cache_similarity = result.similarity
        span.set_attribute("twin.cache.similarity", result.similarity or 0.0)
        ctx.answer_early(
            entry.answer,
            citations=[Citation(**c) for c in entry.citations],
            model=entry.model,
            model_version=entry.model_version,
        )

    async def _changed_documents(self, tenant_id: str, hashes: dict[str, str], document_ids: list[str]) -> set[str]:
        """The entry's documents that are gone from the tenant or whose text changed since it was answered
        (PostgreSQL, the source of truth, is read at answer time, as for every citation)."""
        rows = await self.resources.db.fetch(
            "SELECT id::text AS id, content_hash FROM documents WHERE tenant_id = %s AND id = ANY(%s::uuid[])",
            (tenant_id, list(document_ids)),
            what="the document store",
        )
        current = {row["id"]: row["content_hash"] for row in rows}
        return {d for d in document_ids if d not in current or (hashes.get(d) and hashes[d] != current[d])}
