"""What tracing costs the embedder: pipeline chunks/s with and without tracing, measured in the same run.

Each round is a fresh process that pushes the same generated CDC events (Debezium JSON values whose rows carry
a writer's traceparent, as the ingest service writes them) through the consumer's per-batch path: context
extraction (headers, then the row), the batch CONSUMER span with its links, parsing, ChangePipeline.apply_batch
(its spans, the embedding and Qdrant-edge upsert spans) and one `send` span per DocumentIndexed event.
Rounds alternate between
- untraced: OTEL_SDK_DISABLED=true (the SDK hands out no-op tracers: the baseline), and
- traced: every span exported over OTLP/gRPC to the local stack's collector (or, when none runs, to the
  JSON-lines fallback file, which the output says),
so machine load drifts over both alike. Prints chunks/s per round (wall clock) and chunks per CPU second of the
process (all its threads, the exporter's included: far less sensitive to other jobs on a shared machine), the
median of each mode, and the overhead.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/tracing_overhead.py [--docs 384] [--batch 128] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path


def _value(i: int, traceparent: str) -> bytes:
    """A Debezium create event of the embedder benchmark's i-th document, written by `traceparent`."""
    sys.path.insert(0, str(Path(__file__).parent))
    from embedder_bench import _doc

    row = {**_doc(i), "traceparent": traceparent}
    return json.dumps({"before": None, "after": row, "op": "c", "source": {"lsn": i, "ts_ms": 0}}).encode()


def one_round(n_docs: int, batch: int) -> None:
    """Runs in the child process: prints one JSON line {chunks, seconds, target}."""
    from dataclasses import dataclass

    from opentelemetry import trace
    from twin_common.events import DebeziumEnvelope
    from twin_common.telemetry import export_target, force_flush, setup_telemetry, shutdown_telemetry
    from twin_common.telemetry.kafka import batch_process_span, debezium_trace_context, extract_context, send_span
    from twin_embedder.pipeline import ChangePipeline
    from twin_search.embedding import LocalEmbedder
    from twin_search.indexer import DocumentIndexer
    from twin_search.vectorstore.edge import EdgeVectorStore

    setup_telemetry("bench-embedder")
    tracer = trace.get_tracer("bench")

    @dataclass
    class Record:
        topic: str
        value: bytes
        headers: tuple = ()
        partition: int = 0
        offset: int = 0
        key: bytes | None = None

    writers = [f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01" for _ in range(max(1, n_docs // 16))]
    records = [Record("twin.cdc.public.documents", _value(i, writers[i // 16]), offset=i) for i in range(n_docs)]
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = ChangePipeline(DocumentIndexer(EdgeVectorStore(Path(tmp) / "store"), LocalEmbedder()))
        pipeline.indexer.embedder.embed(["warm-up"] * 32)
        started, cpu_started = time.perf_counter(), time.process_time()
        chunks = 0
        for start in range(0, n_docs, batch):
            part = records[start : start + batch]
            contexts = [extract_context(r.headers) or debezium_trace_context(r.value) for r in part]
            with batch_process_span(part, group="bench", contexts=contexts):
                with tracer.start_as_current_span("embedder.parse"):
                    envelopes = [DebeziumEnvelope.parse(r.value) for r in part]
                with tracer.start_as_current_span("embedder.apply"):
                    applied = pipeline.apply_batch(envelopes)
                for result in applied:
                    with send_span("twin.documents.indexed", key=result.document_id.encode()):
                        pass
            chunks += sum(r.chunk_count for r in applied)
        force_flush()  # the export is part of the cost
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        pipeline.store.close()
    target = export_target()
    shutdown_telemetry()
    described = target.describe() if target else "none"
    print(json.dumps({"chunks": chunks, "seconds": seconds, "cpu_seconds": cpu_seconds, "target": described}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=384)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per mode, alternating")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        one_round(args.docs, args.batch)
        return 0

    results: dict[str, list[float]] = {"untraced": [], "traced": []}
    per_cpu: dict[str, list[float]] = {"untraced": [], "traced": []}
    print(f"{'round':<8}{'mode':<10}{'chunks':>8}{'chunks/s':>10}{'chunks/cpu-s':>14}  spans go to")
    for i in range(args.rounds):
        for mode in ("untraced", "traced"):
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "OTEL_SDK_DISABLED": "true" if mode == "untraced" else ""}
            out = subprocess.run(
                [sys.executable, __file__, "--child", "--docs", str(args.docs), "--batch", str(args.batch)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            line = json.loads(out.stdout.strip().splitlines()[-1])
            rate, cpu_rate = line["chunks"] / line["seconds"], line["chunks"] / line["cpu_seconds"]
            results[mode].append(rate)
            per_cpu[mode].append(cpu_rate)
            print(f"{i + 1:<8}{mode:<10}{line['chunks']:>8}{rate:>10.1f}{cpu_rate:>14.1f}  {line['target']}")
    for label, table in (("chunks/s (wall)", results), ("chunks per CPU second", per_cpu)):
        base, traced = statistics.median(table["untraced"]), statistics.median(table["traced"])
        print(
            f"median {label}: untraced {base:.1f}, traced {traced:.1f}; tracing overhead "
            f"{100 * (base - traced) / base:+.1f}% ({args.docs} documents, batches of {args.batch})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
