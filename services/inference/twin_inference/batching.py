"""Dynamic batching: rows of requests that arrive together run as one model call.

Each request submits its rows; a single worker task takes the first waiting request, keeps collecting
requests until `max_batch_size` rows or `max_delay_s` have passed, runs the batch function in a thread,
and hands every request its own slice of the results. A request is never split across batches, so one
larger than `max_batch_size` runs alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Row = TypeVar("Row")

# batch function: rows -> (one result per row, a tag such as the model version that computed them)
BatchFn = Callable[[list[Any]], tuple[Sequence[Any], str]]


@dataclass
class _Pending(Generic[Row]):
    rows: list[Row]
    future: asyncio.Future = field(repr=False)


@dataclass
class BatchStats:
    batches: int = 0
    rows: int = 0
    largest: int = 0


class DynamicBatcher:
    def __init__(self, run_batch: BatchFn, *, max_batch_size: int = 64, max_delay_s: float = 0.005):
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        self._run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_s
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task | None = None
        self.stats = BatchStats()

    async def submit(self, rows: list[Row]) -> tuple[list[Any], str]:
        """The results for `rows` (same order) and the tag of the batch that computed them."""
        if not rows:
            raise ValueError("no rows to run")
        self._ensure_worker()
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(list(rows), future))
        return await future

    def _ensure_worker(self) -> None:
        if self._worker is None or self._worker.done():
            self._queue = self._queue or asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._work(), name="dynamic-batcher")

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        carry: _Pending | None = None
        while True:
            first = carry or await self._queue.get()
            carry = None
            batch = [first]
            size = len(first.rows)
            deadline = loop.time() + self.max_delay_s
            while size < self.max_batch_size:
                timeout = deadline - loop.time()
                try:
                    nxt = (
                        self._queue.get_nowait() if timeout <= 0 else await asyncio.wait_for(self._queue.get(), timeout)
                    )
                except (TimeoutError, asyncio.QueueEmpty):
                    break
                if size + len(nxt.rows) > self.max_batch_size:
                    carry = nxt  # starts the next batch
                    break
                batch.append(nxt)
                size += len(nxt.rows)
            rows = [row for pending in batch for row in pending.rows]
            try:
                results, tag = await loop.run_in_executor(None, self._run_batch, rows)
                if len(results) != len(rows):
                    raise RuntimeError(f"batch function returned {len(results)} results for {len(rows)} rows")
            except Exception as exc:  # every request of the batch gets the error
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                continue
            self.stats.batches += 1
            self.stats.rows += len(rows)
            self.stats.largest = max(self.stats.largest, len(rows))
            start = 0
            for pending in batch:
                end = start + len(pending.rows)
                if not pending.future.done():
                    pending.future.set_result((list(results[start:end]), tag))
                start = end
