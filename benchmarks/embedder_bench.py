"""Embedder benchmark: raw MiniLM throughput vs the pipeline's, and freshness (commit -> searchable).

1. raw: LocalEmbedder.embed over the chunk texts of N generated documents (chunks/s);
2. pipeline: the same documents as Debezium create events through ChangePipeline.apply_batch into an
   embedded Qdrant edge store (parse, chunk, skip check, embed, BM25, upsert, stale check), in batches like the
   consumer's (chunks/s);
3. freshness: the real path (PostgreSQL -> Debezium/Kafka Connect -> Kafka -> twin-embedder worker) with a
   private database/connector/topic; a writer inserts documents at a steady rate while probe documents are
   timed from their commit until the worker's store returns their chunks (p50/p95).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/embedder_bench.py [--docs 512] [--rate 5] [--seconds 30]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
from twin_common.service_auth import token_for_this_run

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration" / "embedder"))  # the rig helpers the tests use


def _doc(i: int, tenant: str = "bench") -> dict:
    words = ["bees", "hives", "honey", "queens", "wax", "pollen"]
    content = " ".join(f"Sentence {j} of note {i} is about {words[(i + j) % 6]}." for j in range(6 + i % 10))
    return {
        "id": str(uuid.uuid4()),
        "tenant_id": tenant,
        "author_id": str(uuid.uuid4()),
        "kind": "note",
        "external_id": f"n{i}",
        "title": "",
        "content": content,
        "content_hash": f"h{i}",
    }


def raw_and_pipeline(n_docs: int, batch: int) -> tuple[float, float, int]:
    from twin_common.documents import DocumentRow
    from twin_common.events import DebeziumEnvelope
    from twin_embedder.pipeline import ChangePipeline
    from twin_search.embedding import LocalEmbedder
    from twin_search.indexer import DocumentIndexer
    from twin_search.vectorstore.edge import EdgeVectorStore

    embedder = LocalEmbedder()
    docs = [_doc(i) for i in range(n_docs)]
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = ChangePipeline(DocumentIndexer(EdgeVectorStore(Path(tmp) / "store"), embedder))
        texts = [c.text for d in docs for c in pipeline.indexer.chunker.chunk(DocumentRow.model_validate(d))]
        embedder.embed(texts[:32])  # warm-up
        started = time.perf_counter()
        embedder.embed(texts)
        raw = len(texts) / (time.perf_counter() - started)

        envelopes = [
            DebeziumEnvelope.model_validate({"op": "c", "after": d, "source": {"lsn": i}}) for i, d in enumerate(docs)
        ]
        started = time.perf_counter()
        chunks = 0
        for start in range(0, len(envelopes), batch):
            chunks += sum(r.chunk_count for r in pipeline.apply_batch(envelopes[start : start + batch]))
        through = chunks / (time.perf_counter() - started)
        pipeline.store.close()
    return raw, through, len(texts)


def freshness(rate: float, seconds: float) -> list[float]:
    import psycopg
    from embedder_support import Worker, create_rig, seed_author, start_connector, teardown_rig

    with tempfile.TemporaryDirectory() as tmp:
        rig = create_rig(Path(tmp))
        worker = None
        try:
            start_connector(rig)
            worker = Worker(rig, Path(tmp))
            worker.wait_ready()
            with psycopg.connect(rig.dsn, autocommit=True) as conn:
                author = seed_author(conn, "bench")
            stop = threading.Event()

            def background() -> None:
                with psycopg.connect(rig.dsn, autocommit=True) as conn:
                    i = 0
                    while not stop.is_set():
                        d = _doc(i)
                        conn.execute(
                            "INSERT INTO documents (id, tenant_id, author_id, kind, external_id, content,"
                            " content_hash) VALUES (%s, 'bench', %s, 'note', %s, %s, %s)",
                            (d["id"], author, f"bg{i}", d["content"], d["content_hash"]),
                        )
                        i += 1
                        stop.wait(1 / rate)

            writer = threading.Thread(target=background)
            writer.start()
            latencies = []
            deadline = time.monotonic() + seconds
            with psycopg.connect(rig.dsn, autocommit=True) as conn:
                n = 0
                while time.monotonic() < deadline:
                    d = _doc(100_000 + n)
                    conn.execute(
                        "INSERT INTO documents (id, tenant_id, author_id, kind, external_id, content,"
                        " content_hash) VALUES (%s, 'bench', %s, 'note', %s, %s, %s)",
                        (d["id"], author, f"probe{n}", d["content"], d["content_hash"]),
                    )
                    committed = time.perf_counter()
                    while not worker.points("bench", d["id"]):
                        if time.perf_counter() - committed > 30:
                            raise RuntimeError("probe document not searchable after 30 s")
                        time.sleep(0.005)
                    latencies.append((time.perf_counter() - committed) * 1000)
                    n += 1
                    time.sleep(0.3)
            stop.set()
            writer.join()
            return latencies
        finally:
            if worker:
                worker.stop()
            teardown_rig(rig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=512)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rate", type=float, default=5.0, help="background inserts per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    token_for_this_run()  # the server refuses tenant data without TWIN_SERVICE_TOKEN

    raw, through, chunks = raw_and_pipeline(args.docs, args.batch)
    print(f"{'stage':<34}{'chunks/s':>10}")
    print(f"{'LocalEmbedder.embed (raw)':<34}{raw:>10.1f}")
    print(
        f"{'ChangePipeline.apply_batch':<34}{through:>10.1f}   ({args.docs} documents, {chunks} chunks, "
        f"batches of {args.batch}; pipeline/raw = {through / raw:.2f})"
    )
    lat = np.array(freshness(args.rate, args.seconds))
    print(
        f"freshness commit -> searchable at {args.rate:g} docs/s background load, {len(lat)} probes: "
        f"p50 {np.percentile(lat, 50):.0f} ms, p95 {np.percentile(lat, 95):.0f} ms, max {lat.max():.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
