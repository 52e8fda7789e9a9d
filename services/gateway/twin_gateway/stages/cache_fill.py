"""Stage `cache_fill`: store the answer in twin_semcache when the policy allows (twin_semcache.policy: never
personal, time-sensitive, multi-turn, blocked, retracted, flagged, fallback-model or uncited answers).

The entry holds the masked question and answer, the citations and the ids of every document in the context; a
DocumentIndexed event for any of them removes it (the invalidator runs with this stage: `start`). The write runs
after the answer has gone out and never fails a request."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time

from twin_semcache.cache import AnswerCache, CachedAnswer
from twin_semcache.invalidation import CacheInvalidator
from twin_semcache.policy import fill_skip

from twin_gateway.pipeline.context import RequestContext
from twin_gateway.pipeline.stage import Stage
from twin_gateway.stages.cache_lookup import LOOKED_UP, MISSED_AT, cache_for, cacheable_request, scope_of
from twin_gateway.stages.input_rails import PERSONAL

log = logging.getLogger(__name__)


class CacheFillStage(Stage):
    name = "cache_fill"

    def __init__(self, resources, cache: AnswerCache):
        self.resources = resources
        self.cache = cache
        self.invalidator: CacheInvalidator | None = None
        self._writes: set[asyncio.Task] = set()

    @classmethod
    def build(cls, resources) -> CacheFillStage | None:
        cache = cache_for(resources)
        return cls(resources, cache) if cache is not None else None

    async def start(self) -> None:
        self.invalidator = CacheInvalidator(self.cache)
        self.invalidator.start_in_background()  # Kafka down never keeps the gateway from starting

    async def close(self) -> None:
        if self._writes:
            await asyncio.wait(self._writes, timeout=5)
        if self.invalidator is not None:
            await self.invalidator.stop()

    async def run(self, ctx: RequestContext) -> None:
        if LOOKED_UP not in ctx.log_fields and not cacheable_request(ctx, self.cache):
            return
        numbers = [c.number for c in ctx.citations]
        skip = fill_skip(
            use_cache=ctx.request.use_cache,
            personal=bool(ctx.log_fields.get(PERSONAL)) or bool(ctx.reverse_map),
            question=ctx.prompt_text,
            answer=ctx.answer_text,
            status=ctx.status.value,
            guardrails=ctx.guardrails,
            retrieval_expected=ctx.use_retrieval,
            citation_numbers=numbers,
            history_turns=len(ctx.request.history),
            fallbacks=ctx.fallbacks,
        )
        if skip is not None:
            ctx.log_fields["cache_skip"] = skip.value
            self.cache.metrics.skips.labels(skip.value).inc()
            return
        entry = CachedAnswer(
            answer=ctx.answer_text,
            tenant_id=ctx.tenant_id,
            question=ctx.prompt_text,
            document_ids=list(dict.fromkeys(c.document_id for c in ctx.citations)),
            document_hashes={
                h.document_id: h.payload["content_hash"]
                for h in ctx.hits
                if h.payload.get("content_hash") and h.document_id in {c.document_id for c in ctx.citations}
            },
            citations=[dataclasses.asdict(c) for c in ctx.citations],
            model=ctx.model,
            model_version=ctx.model_version,
            template_version=ctx.template_version,
        )
        # what the answer was made from was retrieved after the lookup missed: a document changed after that makes
        # the entry withdraw itself (twin_semcache.cache: the fill race)
        requested_at = ctx.log_fields.get(MISSED_AT) or time.time() - ctx.elapsed_ms() / 1000
        task = asyncio.get_running_loop().create_task(self._store(ctx, entry, requested_at))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _store(self, ctx: RequestContext, entry: CachedAnswer, requested_at: float) -> None:
        r = self.resources
        try:
            version = ctx.model_version or ""
            if ctx.route and version and version != ctx.log_fields.get(LOOKED_UP):
                await r.run_blocking(self.cache.note_route_version, ctx.route, version)
            await r.run_blocking(
                functools.partial(
                    self.cache.fill,
                    ctx.prompt_text,
                    scope_of(ctx, version),
                    entry,
                    requested_at=requested_at,
                    vector=ctx.query_embedding,
                )
            )
        except Exception as exc:  # a cache that cannot be written is a cache miss later, never a failed request
            log.warning("cache fill of request %s failed: %r", ctx.request_id, exc)
