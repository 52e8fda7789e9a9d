"""Monitor: consumer throughput and report build time, each next to a baseline measured in the same run.

(a) Consumer: N RequestLogged events (384-d query embeddings, as the gateway sends them) on a private topic, read by
    the monitor's consumer (FastStream batch subscriber -> parse -> windows in PostgreSQL -> commit), events/s from
    its start until every event is stored; baseline: a bare FastStream batch subscriber of the same topic that only
    parses each event and commits.
(b) Report: a window of N requests against a reference of N, for each size: the monitor's whole report (rows from
    PostgreSQL, both Evidently runs, Evidently's HTML, JSON, the report row and alerts) next to the raw Evidently
    time: the same metrics run by `Report.run` on datasets already in memory (descriptors included).
(c) False alarms (optional, --false-alarm-windows): stable windows against stable references from seeds the
    defaults were not tuned on (MiniLM query embeddings): tests run, tests failed, windows with an alert.

Query embeddings in (a) and (b) are the synthetic traffic's hashed 384-d vectors (--minilm: MiniLM's).

Everything lives in a private database and topics, removed at the end.

    .venv/bin/python benchmarks/monitor_bench.py [--events 10000] [--sizes 1000 10000] [--false-alarm-windows 0]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd
import psycopg
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from twin_common.events import RequestLogged
from twin_common.settings import KafkaSettings, PostgresSettings
from twin_ingest.db import migrate
from twin_monitor.consumer import MonitorConsumer
from twin_monitor.drift import DriftReportBuilder, prepare
from twin_monitor.metrics import MonitorMetrics
from twin_monitor.records import RequestRow
from twin_monitor.reports import ReportService
from twin_monitor.settings import DriftSettings, MonitorSettings, WindowSettings
from twin_monitor.store import MonitorStore
from twin_monitor.synthetic import SLOW_MODEL, STABLE, generate


class Rig:
    def __init__(self, window: int):
        self.suffix = uuid.uuid4().hex[:8]
        self.pg = PostgresSettings()
        self.database = f"twin_bench_mon_{self.suffix}"
        self.bootstrap = KafkaSettings().bootstrap_servers
        self.topic = f"twinbenchmon{self.suffix}.requests"
        self.reports_dir = Path(tempfile.mkdtemp(prefix="twin-monitor-bench-"))
        with psycopg.connect(self.pg.dsn("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.database}"')
        migrate(self.dsn)
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        admin.create_topics([NewTopic(self.topic, num_partitions=1, replication_factor=1)])
        admin.close()
        self.window = window

    @property
    def dsn(self) -> str:
        return self.pg.dsn(self.database)

    def settings(self, **overrides) -> MonitorSettings:
        return MonitorSettings(
            requests_topic=self.topic,
            feedback_topic=f"{self.topic}.feedback",
            models_topic=f"{self.topic}.models",
            alerts_topic=f"{self.topic}.alerts",
            group_id=f"twin-bench-mon-{self.suffix}",
            pg=PostgresSettings(database=self.database),
            reports_dir=self.reports_dir,
            window=WindowSettings(reference_size=self.window, size=self.window, seconds=0),
            report_workers=0,
            **overrides,
        )

    def close(self) -> None:
        with psycopg.connect(self.pg.dsn("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            admin.delete_topics([t for t in admin.list_topics() if t.startswith(f"twinbenchmon{self.suffix}")])
        finally:
            admin.close()


def produce(rig: Rig, events: list[RequestLogged]) -> float:
    producer = KafkaProducer(bootstrap_servers=rig.bootstrap, acks="all", linger_ms=20, batch_size=1 << 20)
    started = time.perf_counter()
    for event in events:
        producer.send(rig.topic, event.to_bytes(), key=event.tenant_id.encode())
    producer.flush()
    producer.close()
    return time.perf_counter() - started


async def bare_consumer(rig: Rig, n: int) -> float:
    """Baseline: parse and commit only."""
    broker = KafkaBroker(rig.bootstrap)
    seen = 0
    done = asyncio.Event()

    @broker.subscriber(
        rig.topic,
        group_id=f"twin-bench-bare-{rig.suffix}",
        batch=True,
        max_records=500,
        batch_timeout_ms=200,
        fetch_max_wait_ms=100,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
    )
    async def handle(msg: KafkaMessage) -> None:
        nonlocal seen
        records = msg.raw_message if isinstance(msg.raw_message, tuple | list) else (msg.raw_message,)
        for record in records:
            RequestLogged.from_bytes(record.value)
        await msg.ack()
        seen += len(records)
        if seen >= n:
            done.set()

    started = time.perf_counter()
    await broker.start()
    await asyncio.wait_for(done.wait(), timeout=600)
    elapsed = time.perf_counter() - started
    await broker.stop()
    return n / elapsed


async def monitor_consumer(rig: Rig, n: int) -> float:
    settings = rig.settings()
    store = MonitorStore(rig.dsn, settings.window)
    consumer = MonitorConsumer(settings, store, MonitorMetrics())
    started = time.perf_counter()
    await consumer.start()
    while consumer.stats.requests_stored + consumer.stats.duplicates < n:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    await consumer.stop()
    return n / elapsed


def raw_evidently(reference: pd.DataFrame, current: pd.DataFrame, settings: DriftSettings) -> float:
    """The same metrics run by Evidently alone on data in memory: the builder's work minus the monitor's own."""
    builder = DriftReportBuilder(settings, min_rows=30)
    # The builder's _build is Evidently's work (datasets with descriptors, both runs, HTML render) on prepared frames.
    ref, cur = prepare(reference), prepare(current)
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    with threadpool_limits(limits=settings.threads):
        builder._build(ref, cur, "")
    return time.perf_counter() - started


def report_times(size: int, embed) -> tuple[float, float, dict]:
    rig = Rig(window=size)
    try:
        settings = rig.settings()
        store = MonitorStore(rig.dsn, settings.window)
        events = generate(STABLE, size, "bench", 1, embed) + generate(SLOW_MODEL, size, "bench", 2, embed)
        for start in range(0, len(events), 1000):
            store.ingest_requests(
                [RequestRow.from_event(g.request, settings.segment_by) for g in events[start : start + 1000]]
            )
        window = [w for w in store.list_windows("bench") if w.kind == "current"][0]
        service = ReportService(settings, store)
        started = time.perf_counter()
        outcome = service.build(window.id, "demand")
        monitor_s = time.perf_counter() - started
        reference = pd.DataFrame(store.window_rows(store.window(window.id).reference_id))
        current = pd.DataFrame(store.window_rows(window.id))
        raw_s = raw_evidently(reference, current, settings.drift)
        drifted = [r["metric"] for r in outcome.results if r["drifted"]]
        return (
            monitor_s,
            raw_s,
            {"drifted": len(drifted), "tested": sum(1 for r in outcome.results if not r["skipped"])},
        )
    finally:
        rig.close()


def false_alarms(windows: int, embed) -> None:
    references = max(1, windows // 5)
    builder = DriftReportBuilder(DriftSettings(), min_rows=30)

    def frame(profile, n, seed):
        rows = []
        for g in generate(profile, n, "bench", seed, embed):
            row = dataclasses.asdict(RequestRow.from_event(g.request, ["route"]))
            row["rating"] = g.feedback.rating if g.feedback else None
            rows.append(row)
        return pd.DataFrame(rows)

    tests = failed = windows_alarmed = 0
    metrics: dict[str, int] = {}
    for r in range(references):
        reference = frame(STABLE, 200, 3000 + r)  # held out: the defaults were tuned on seeds 1000-2999
        for w in range(windows // references):
            report = builder.build(reference, frame(STABLE, 150, 3500 + 50 * r + w))
            tests += len(report.tested)
            failed += len(report.drifted)
            windows_alarmed += bool(report.drifted)
            for x in report.drifted:
                metrics[x.metric] = metrics.get(x.metric, 0) + 1
    n = references * (windows // references)
    print(
        f"false alarms: {failed} of {tests} tests ({failed / max(tests, 1):.2%}) in {n} stable windows x metrics; "
        f"{windows_alarmed} of {n} windows with an alert {metrics or ''}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000])
    parser.add_argument("--false-alarm-windows", type=int, default=0)
    parser.add_argument("--minilm", action="store_true", help="MiniLM query embeddings (default: hashed, cheaper)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    embed = None  # the synthetic traffic's hashed vectors: 384-d like MiniLM's, same cost to store and test
    if args.minilm:
        from twin_search.embedding import LocalEmbedder

        embed = LocalEmbedder().embed

    if args.events:
        rig = Rig(window=args.events)  # one reference window: the throughput is not mixed with window closing
        try:
            events = [g.request for g in generate(STABLE, args.events, "bench", 7, embed)]
            size = statistics.mean(len(e.to_bytes()) for e in events[:200])
            produce_s = produce(rig, events)
            bare = asyncio.run(bare_consumer(rig, args.events))
            monitor = asyncio.run(monitor_consumer(rig, args.events))
            print(f"consumer, {args.events} events of {size / 1024:.1f} KB (produced in {produce_s:.1f} s):")
            print(f"  monitor consumer (parse, windows in PostgreSQL, commit)   {monitor:8.0f} events/s")
            print(f"  bare FastStream batch consumer (parse, commit)            {bare:8.0f} events/s")
        finally:
            rig.close()

    if args.sizes:
        print("report of a window against a reference of the same size (stable reference, slower model):")
        print(f"  {'requests':>8}  {'monitor report':>14}  {'raw Evidently':>13}  {'monitor/raw':>11}  tests")
        for size in args.sizes:
            monitor_s, raw_s, info = report_times(size, embed)
            print(
                f"  {size:>8}  {monitor_s:>12.1f} s  {raw_s:>11.1f} s  {monitor_s / raw_s:>11.2f}  "
                f"{info['drifted']} of {info['tested']} drifted"
            )

    if args.false_alarm_windows:
        from twin_search.embedding import LocalEmbedder

        false_alarms(args.false_alarm_windows, embed or LocalEmbedder().embed)  # MiniLM: what the gateway sends
    return 0


if __name__ == "__main__":
    sys.exit(main())
