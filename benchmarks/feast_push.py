"""Feast push benchmark: the embedder's FeastFeatureSink.push next to Feast's bare push of the same rows.

The sink reads the stored LSNs of a batch's documents before it pushes (so a later change of one commit is
not dropped as a tie); this prints what that read costs against the push it guards. Needs the local stack's
Redis (`make up`); uses a private Feast project, removed at the end.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/feast_push.py [--docs 256] [--batches 8]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feast.data_source import PushMode
from twin_embedder.feast_sink import FeastFeatureSink, document_frame, open_store
from twin_embedder.features import DocumentFeatures, StyleStats

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _batch(n: int, k: int) -> list[DocumentFeatures]:
    return [
        DocumentFeatures(
            "bench",
            f"d{i}",
            f"a{i % 8}",
            2,
            200,
            "en",
            T0,
            style=StyleStats(40, 4, 10.0, 0.5),
            committed_at=T0 + timedelta(seconds=k),
            source_lsn=k * 1_000_000 + i,
        )
        for i in range(n)
    ]


def _median_ms(run, batches: int, offset: int) -> float:
    times = []
    for k in range(batches):
        started = time.perf_counter()
        run(offset + k)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=256)
    parser.add_argument("--batches", type=int, default=8)
    args = parser.parse_args()
    project = f"twinbench{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(project, Path(tmp) / "feast")
        sink = FeastFeatureSink(store)
        try:
            bare = _median_ms(
                lambda k: store.push(
                    "document_stats_push", document_frame(_batch(args.docs, k)), to=PushMode.ONLINE_AND_OFFLINE
                ),
                args.batches,
                1,
            )
            read = _median_ms(lambda k: sink._ordered_after_stored(_batch(args.docs, k)), args.batches, 1000)
            full = _median_ms(lambda k: sink.push(_batch(args.docs, k)), args.batches, 2000)
        finally:
            store.teardown()
    print(f"{args.docs} documents per push, median of {args.batches} pushes (ms)")
    print(f"  Feast push, bare (baseline)      {bare:8.1f}")
    print(f"  FeastFeatureSink.push            {full:8.1f}   ({full / bare:.2f}x the bare push)")
    print(f"    of which the LSN read          {read:8.1f}")


if __name__ == "__main__":
    main()
