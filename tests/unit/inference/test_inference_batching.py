"""DynamicBatcher: rows that arrive together run as one call; each request gets its own results."""

from __future__ import annotations

import asyncio
import threading

import pytest
from twin_inference.batching import DynamicBatcher


def test_concurrent_requests_share_batches_and_get_their_own_rows_back():
    calls: list[list[str]] = []

    def run(rows):
        calls.append(list(rows))
        return [r.upper() for r in rows], f"v{len(calls)}"

    async def scenario():
        batcher = DynamicBatcher(run, max_batch_size=8, max_delay_s=0.05)
        requests = [[f"r{i}a", f"r{i}b"] for i in range(4)]
        results = await asyncio.gather(*(batcher.submit(rows) for rows in requests))
        await batcher.close()
        return requests, results

    requests, results = asyncio.run(scenario())
    assert [rows for rows, _ in results] == [[r.upper() for r in req] for req in requests]
    assert len(calls) == 1 and len(calls[0]) == 8  # four requests of two rows: one batch
    assert {tag for _, tag in results} == {"v1"}


def test_batches_never_exceed_the_size_limit_and_oversized_requests_run_alone():
    sizes: list[int] = []

    def run(rows):
        sizes.append(len(rows))
        return list(rows), "v"

    async def scenario():
        batcher = DynamicBatcher(run, max_batch_size=4, max_delay_s=0.02)
        out = await asyncio.gather(*(batcher.submit([i] * n) for i, n in enumerate([3, 3, 10, 1, 2])))
        await batcher.close()
        return out

    out = asyncio.run(scenario())
    assert [rows for rows, _ in out] == [[0] * 3, [1] * 3, [2] * 10, [3], [4] * 2]
    assert 10 in sizes and all(s <= 4 for s in sizes if s != 10)
    assert sum(sizes) == 19


def test_an_error_in_the_batch_reaches_every_request_of_that_batch_and_the_batcher_keeps_working():
    fail = threading.Event()
    fail.set()

    def run(rows):
        if fail.is_set():
            fail.clear()
            raise RuntimeError("model exploded")
        return rows, "v"

    async def scenario():
        batcher = DynamicBatcher(run, max_batch_size=8, max_delay_s=0.05)
        first = await asyncio.gather(batcher.submit(["a"]), batcher.submit(["b"]), return_exceptions=True)
        second = await batcher.submit(["c"])
        await batcher.close()
        return first, second

    first, second = asyncio.run(scenario())
    assert all(isinstance(e, RuntimeError) and "exploded" in str(e) for e in first)
    assert second == (["c"], "v")


def test_empty_requests_are_rejected():
    async def scenario():
        await DynamicBatcher(lambda rows: (rows, "v")).submit([])

    with pytest.raises(ValueError, match="no rows"):
        asyncio.run(scenario())
