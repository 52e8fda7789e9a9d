"""The quota scripts on the real Redis: buckets refill, the concurrency limit holds and frees, tokens are charged
after the answer, and several limiters (replicas) share one state."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis
from twin_common.settings import RedisSettings
from twin_gateway.quotas.limiter import QuotaLimiter
from twin_gateway.settings import QuotaSettings


def limiters(n: int) -> tuple[list[QuotaLimiter], list[aioredis.Redis]]:
    settings = QuotaSettings(key_prefix=f"twin:test:{uuid.uuid4().hex}")
    clients = [aioredis.from_url(RedisSettings().url) for _ in range(n)]
    return [QuotaLimiter(c, settings) for c in clients], clients


async def test_concurrency_slots_are_shared_and_given_back():
    (a, b), clients = limiters(2)
    limits = a.limits(requests_per_minute=1000, tokens_per_minute=100_000, max_concurrent=2)
    assert (await a.admit("k1", "r1", limits)).admitted
    assert (await b.admit("k1", "r2", limits)).admitted
    third = await a.admit("k1", "r3", limits)
    assert not third.admitted and third.limit == "max_concurrent" and third.retry_after_s > 0
    assert (await a.admit("k2", "r1", limits)).admitted  # another key has its own slots
    await b.release("k1", "r1", limits, tokens_used=0)
    assert (await a.admit("k1", "r3", limits)).admitted
    for c in clients:
        await c.aclose()


async def test_tokens_are_charged_after_the_answer_and_refill():
    (limiter,), clients = limiters(1)
    limits = limiter.limits(requests_per_minute=1000, tokens_per_minute=600, max_concurrent=10)  # 10 tokens/s
    assert (await limiter.admit("k", "r1", limits)).admitted
    await limiter.release("k", "r1", limits, tokens_used=650)  # more than the bucket: it goes negative
    refused = await limiter.admit("k", "r2", limits)
    assert not refused.admitted and refused.limit == "tokens_per_minute"
    assert 4 <= refused.retry_after_s <= 6  # 50 tokens below zero at 10 tokens/s
    await asyncio.sleep(0)
    for c in clients:
        await c.aclose()


async def test_the_request_bucket_refills_at_its_rate():
    import time

    (limiter,), clients = limiters(1)
    limits = limiter.limits(requests_per_minute=60, tokens_per_minute=100_000, max_concurrent=1000)  # 1/s, burst 60
    started = time.monotonic()
    decisions = [await limiter.admit("k", f"r{i}", limits) for i in range(80)]
    elapsed = time.monotonic() - started
    admitted = sum(d.admitted for d in decisions)
    assert 60 <= admitted <= 60 + int(elapsed) + 1
    refused = [d for d in decisions if not d.admitted]
    assert refused and all(d.limit == "requests_per_minute" and 0 < d.retry_after_s <= 1.0 for d in refused)
    await asyncio.sleep(1.1)
    assert (await limiter.admit("k", "later", limits)).admitted
    for c in clients:
        await c.aclose()
