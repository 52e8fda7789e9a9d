"""The gateway's own cost: end-to-end latency through it, the model's time, and the gateway's overhead, at 1, 10
and 50 concurrent clients, plus the streamed time to first token.

Needs the local stack (`make up`: PostgreSQL, Redis, Kafka). Starts its own processes on free ports: the inference
server (SmolLM2-135M, the LLM only) and the gateway (no embedder in it: the sample corpus is indexed into its store
before it starts, and stored in a private database so citations are checked for real).

For every answered request the gateway reports its stage times (Server-Timing). Per request:
    model      = the generate stage (first token to last, as the gateway waits for it)
    retrieval  = the query embedding + the retrieve stage (hybrid search, citation check in PostgreSQL)
    overhead   = end-to-end at the client - model - retrieval  (HTTP, auth, quota, routing, prompt, request log)
Baseline, measured in the same run: the same prompts sent straight to the inference server (twin_inference_client
over gRPC, same concurrency): what the model costs without any gateway.

    .venv/bin/python benchmarks/gateway_bench.py [--clients 1,10,50] [--requests-per-client 20,3,2] [--max-tokens 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

QUESTIONS = [
    "How do I keep a consumer idempotent?",
    "What should I check before winter in the hive?",
    "Why is the log the database?",
    "What does replica identity full do?",
    "How should deletes propagate?",
    "Why do I prefer small batches?",
]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def server_timing(header: str) -> dict[str, float]:
    out = {}
    for part in header.split(","):
        name, _, rest = part.strip().partition(";dur=")
        if rest:
            out[name] = float(rest)
    return out


def index_corpus(rig, store_path: Path, tenant: str) -> int:
    """Sample corpus -> the rig's database (ingest's store) -> chunks in the gateway's embedded store."""
    import psycopg
    from twin_common.documents import DocumentRow
    from twin_ingest.importers.files import import_folder
    from twin_ingest.pipeline import run_import
    from twin_ingest.store import DocumentStore
    from twin_search.embedding import LocalEmbedder
    from twin_search.indexer import DocumentIndexer
    from twin_search.vectorstore.edge import EdgeVectorStore

    corpus = ROOT / "samples" / "corpus"
    with DocumentStore(rig.dsn) as store:
        for folder in (corpus / "articles", corpus / "notes"):
            run_import(import_folder(folder), store, tenant, "alex")
    with psycopg.connect(rig.dsn) as conn:
        cursor = conn.execute("SELECT * FROM documents WHERE tenant_id = %s", (tenant,))
        columns = [c.name for c in cursor.description]
        rows = [
            DocumentRow.model_validate({c: str(v) if c in ("id", "author_id") else v for c, v in zip(columns, r)})
            for r in cursor
        ]
    embedder = LocalEmbedder()
    vectors = EdgeVectorStore(store_path)
    vectors.ensure_collection(embedder.dimension)
    indexer = DocumentIndexer(vectors, embedder)
    indexer.index_many(rows)
    vectors.close()
    return len(rows)


async def gateway_level(url: str, key: str, clients: int, per_client: int, max_tokens: int) -> dict:
    import httpx

    e2e, model, retrieval, overhead, errors = [], [], [], [], 0
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=600, limits=httpx.Limits(max_connections=clients + 5)
    ) as http:

        async def worker(i: int) -> None:
            nonlocal errors
            for j in range(per_client):
                question = QUESTIONS[(i + j) % len(QUESTIONS)]
                started = time.perf_counter()
                response = await http.post(
                    "/v1/ask", json={"question": question, "generation": {"max_tokens": max_tokens}}
                )
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    errors += 1
                    continue
                timing = server_timing(response.headers.get("server-timing", ""))
                m = timing.get("generate", 0.0)
                r = timing.get("retrieve", 0.0) + timing.get("embed", 0.0)
                e2e.append(elapsed)
                model.append(m)
                retrieval.append(r)
                overhead.append(elapsed - m - r)

        await asyncio.gather(*(worker(i) for i in range(clients)))

        ttft = []

        async def streamer(i: int) -> None:
            question = QUESTIONS[i % len(QUESTIONS)]
            started = time.perf_counter()
            async with http.stream(
                "POST", "/v1/ask/stream", json={"question": question, "generation": {"max_tokens": max_tokens}}
            ) as response:
                lines = response.aiter_lines()
                async for line in lines:
                    if line.startswith("data: ") and '"delta":""' not in line:
                        ttft.append((time.perf_counter() - started) * 1000)
                        break
                async for _ in lines:  # the rest of the answer
                    pass

        await asyncio.gather(*(streamer(i) for i in range(clients)))
    return {"e2e": e2e, "model": model, "retrieval": retrieval, "overhead": overhead, "ttft": ttft, "errors": errors}


def direct_level(grpc_url: str, llm_name: str, clients: int, per_client: int, max_tokens: int) -> list[float]:
    """Baseline: the model alone, the same prompts, the same concurrency (threads; one client each)."""
    from twin_inference_client import InferenceClient
    from twin_inference_client.schema import GenerationParams

    def worker(i: int) -> list[float]:
        client = InferenceClient(grpc_url, "grpc", llm_model=llm_name, timeout_s=600)
        out = []
        for j in range(per_client):
            messages = [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": QUESTIONS[(i + j) % len(QUESTIONS)]},
            ]
            started = time.perf_counter()
            for _ in client.generate_stream(messages=messages, params=GenerationParams(max_tokens=max_tokens)):
                pass
            out.append((time.perf_counter() - started) * 1000)
        client.close()
        return out

    with ThreadPoolExecutor(clients) as pool:
        return [v for values in pool.map(worker, range(clients)) for v in values]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,10,50")
    parser.add_argument("--requests-per-client", default="20,3,2")
    parser.add_argument("--max-tokens", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    levels = [int(c) for c in args.clients.split(",")]
    per_client = [int(r) for r in args.requests_per_client.split(",")]
    from gateway_harness import create_rig, drop_rig, make_key, start_gateway, start_inference

    home = Path(tempfile.mkdtemp(prefix="twin-gateway-bench-"))
    rig = create_rig(home, connector=False)
    services = []
    try:
        tenant = f"bench-{uuid.uuid4().hex[:6]}"
        started = time.perf_counter()
        documents = index_corpus(rig, home / "store", tenant)
        print(f"indexed {documents} sample documents in {time.perf_counter() - started:.1f} s", flush=True)
        inference = start_inference(rig)
        services.append(inference.service)
        gateway = start_gateway(
            rig,
            inference_url=inference.grpc_url,
            ingest_url=None,
            embedder=False,
            store_path=home / "store",
            TWIN_LOG_LEVEL="WARNING",
            TWIN_QUOTA_REQUESTS_PER_MINUTE="1000000",
            TWIN_QUOTA_MAX_CONCURRENT="1000",
        )
        services.append(gateway.service)
        key = make_key(rig, tenant)
        asyncio.run(gateway_level(gateway.rest_url, key, 1, 2, args.max_tokens))  # warm-up
        report = []
        print(
            f"\ngateway (REST /v1/ask, {args.max_tokens} new tokens; ms)      "
            "                                                    baseline: model alone"
        )
        print(
            f"{'clients':>7} {'reqs':>5} {'e2e p50':>8} {'e2e p99':>8} {'model p50':>9} {'retr p50':>8} "
            f"{'overhead p50':>12} {'overhead p99':>12} {'TTFT p50':>8} {'TTFT p99':>8} {'err':>4} | {'direct p50':>10} {'direct p99':>10}"
        )
        for clients, n in zip(levels, per_client):
            result = asyncio.run(gateway_level(gateway.rest_url, key, clients, n, args.max_tokens))
            direct = direct_level(inference.grpc_url, "twin-llm", clients, n, args.max_tokens)
            row = {
                "clients": clients,
                "requests": len(result["e2e"]),
                "errors": result["errors"],
                "e2e_p50": pct(result["e2e"], 50),
                "e2e_p99": pct(result["e2e"], 99),
                "model_p50": pct(result["model"], 50),
                "retrieval_p50": pct(result["retrieval"], 50),
                "overhead_p50": pct(result["overhead"], 50),
                "overhead_p99": pct(result["overhead"], 99),
                "ttft_p50": pct(result["ttft"], 50),
                "ttft_p99": pct(result["ttft"], 99),
                "direct_p50": pct(direct, 50),
                "direct_p99": pct(direct, 99),
                "overhead_mean": statistics.fmean(result["overhead"]) if result["overhead"] else float("nan"),
            }
            report.append(row)
            print(
                f"{clients:>7} {row['requests']:>5} {row['e2e_p50']:>8.1f} {row['e2e_p99']:>8.1f} {row['model_p50']:>9.1f} "
                f"{row['retrieval_p50']:>8.1f} {row['overhead_p50']:>12.2f} {row['overhead_p99']:>12.2f} "
                f"{row['ttft_p50']:>8.1f} {row['ttft_p99']:>8.1f} {row['errors']:>4} | {row['direct_p50']:>10.1f} {row['direct_p99']:>10.1f}",
                flush=True,
            )
        print("\ntargets for the overhead at 50 clients: p50 < 5 ms, p99 < 15 ms")
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
    finally:
        for service in reversed(services):
            service.stop()
        drop_rig(rig)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
