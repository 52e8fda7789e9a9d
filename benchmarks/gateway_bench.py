"""The gateway's own cost: end-to-end latency through it, the model's time, and the gateway's overhead, at 1, 10
and 50 concurrent clients, plus the streamed time to first token.

Needs the local stack (`make up`: PostgreSQL, Redis, Kafka). Starts its own processes on free ports: the inference
server (SmolLM2-135M, the LLM only) and the gateway (no embedder in it: the sample corpus is indexed into its store
before it starts, and stored in a private database so citations are checked for real).

Two routes, measured in the same run:
    instant  an OpenAI-compatible stub model in this process that answers at once: the gateway's own cost with
             nothing else competing for the CPU (the overhead figure)
    twin     the real model (SmolLM2 on CPU): the model's own time, end to end through the gateway

For every answered request the gateway reports its stage times (Server-Timing). Per request:
    model      = the generate stage (first token to last, as the gateway waits for it)
    retrieval  = the query embedding + the retrieve stage (hybrid search, citation check in PostgreSQL)
    overhead   = end-to-end at the client - model - retrieval  (HTTP, auth, quota, routing, prompt, request log)
Baseline, measured in the same run at the same concurrency: the same work without the gateway ("direct"): the
bench process itself embeds the question, runs twin_search's hybrid retrieval on a copy of the same store, checks
the cited documents in PostgreSQL, builds the numbered context with the same template, and streams the answer from
the same model (the stub over HTTP, or the inference server over gRPC with twin_inference_client). The gateway's
cost over calling retrieval + inference directly = gateway end-to-end - direct end-to-end (columns "vs direct").

    .venv/bin/python benchmarks/gateway_bench.py [--clients 1,10,50] [--instant-requests 100,20,6]
        [--model-clients 1,4] [--model-requests 2,1] [--max-tokens 4] [--routes instant,twin] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def start_stub_model(tokens: int) -> str:
    """An OpenAI-compatible chat model that streams `tokens` pieces at once (no work): a thread in this process."""
    import threading

    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse
    from gateway_harness import free_port

    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(body: dict) -> StreamingResponse:
        def chunk(delta: dict, finish=None, usage=None) -> str:
            data = {"id": "stub", "object": "chat.completion.chunk", "created": 0, "model": "stub", "choices": []}
            if usage is None:
                data["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
            else:
                data["usage"] = usage
            return f"data: {json.dumps(data)}\n\n"

        async def events():
            yield chunk({"role": "assistant", "content": ""})
            for i in range(tokens):
                yield chunk({"content": f" word{i}"})
            yield chunk({}, "stop")
            yield chunk({}, usage={"prompt_tokens": 100, "completion_tokens": tokens, "total_tokens": 100 + tokens})
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}/v1"


async def gateway_level(url: str, key: str, route: str, clients: int, per_client: int, max_tokens: int) -> dict:
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
                    "/v1/ask",
                    json={"question": question, "generation": {"max_tokens": max_tokens, "model": route}},
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
                "POST",
                "/v1/ask/stream",
                json={"question": question, "generation": {"max_tokens": max_tokens, "model": route}},
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


class DirectRag:
    """Retrieval + generation called directly (no gateway): what a caller pays without the gateway in between."""

    def __init__(self, store_path: Path, dsn: str, tenant: str):
        from twin_gateway.rag.retrieval import MemoEmbedder
        from twin_gateway.settings import RagSettings
        from twin_search.embedding import LocalEmbedder
        from twin_search.retriever import HybridRetriever, RetrievalSettings
        from twin_search.vectorstore.edge import EdgeVectorStore

        self.settings = RagSettings()
        # the gateway remembers the vectors of recent questions (MemoEmbedder); so does the baseline
        self.embedder = MemoEmbedder(LocalEmbedder())
        self.store = EdgeVectorStore(store_path)
        self.store.ensure_collection(self.embedder.dimension)
        self.retriever = HybridRetriever(
            self.store, self.embedder, settings=RetrievalSettings(candidates=self.settings.candidates)
        )
        self.dsn = dsn
        self.tenant = tenant

    def messages(self, conn, question: str) -> list[dict]:
        from twin_gateway.rag.prompt import GROUNDED
        from twin_search.context import build_context
        from twin_search.retriever import Mode
        from twin_search.vectorstore.base import SearchFilter

        top_k = self.settings.top_k
        hits = self.retriever.search(
            question, SearchFilter(self.tenant), top_k=top_k + max(2, top_k // 2), mode=Mode.HYBRID, rerank=False
        ).hits
        ids = list({h.payload["document_id"] for h in hits})
        rows = conn.execute(
            "SELECT id::text FROM documents WHERE tenant_id = %s AND id = ANY(%s::uuid[])", (self.tenant, ids)
        ).fetchall()
        existing = {r[0] for r in rows}
        hits = [h for h in hits if h.payload["document_id"] in existing][:top_k]
        built = build_context(hits, self.embedder.count_tokens, self.settings.context_token_budget, top_k)
        return GROUNDED.messages(question, built.text)

    def close(self) -> None:
        self.store.close()


def direct_level(
    rag: DirectRag, route: str, stub_url: str, grpc_url: str, clients: int, per_client: int, max_tokens: int
) -> list[float]:
    """Baseline: retrieval + the model called directly, the same prompts, the same concurrency (one thread per
    client): end-to-end ms per request."""
    import httpx
    import psycopg
    from twin_inference_client import InferenceClient
    from twin_inference_client.schema import GenerationParams

    def worker(i: int) -> list[float]:
        out = []
        with psycopg.connect(rag.dsn) as conn, httpx.Client(timeout=600) as http:
            client = InferenceClient(grpc_url, "grpc", llm_model="twin-llm", timeout_s=600) if route == "twin" else None
            for j in range(per_client):
                question = QUESTIONS[(i + j) % len(QUESTIONS)]
                started = time.perf_counter()
                messages = rag.messages(conn, question)
                if client is not None:
                    params = GenerationParams(max_tokens=max_tokens)
                    for _ in client.generate_stream(messages=messages, params=params):
                        pass
                else:
                    body = {"model": "stub", "messages": messages, "max_tokens": max_tokens, "stream": True}
                    with http.stream("POST", f"{stub_url}/chat/completions", json=body) as response:
                        for _ in response.iter_lines():
                            pass
                out.append((time.perf_counter() - started) * 1000)
            if client is not None:
                client.close()
        return out

    with ThreadPoolExecutor(clients) as pool:
        return [v for values in pool.map(worker, range(clients)) for v in values]


HEADER = (
    f"{'clients':>7} {'reqs':>5} {'e2e p50':>8} {'e2e p99':>8} {'model p50':>9} {'retr p50':>8} "
    f"{'overhead p50':>12} {'overhead p99':>12} {'TTFT p50':>8} {'TTFT p99':>8} {'err':>4}"
)


def summarise(clients: int, result: dict) -> dict:
    return {
        "clients": clients,
        "requests": len(result["e2e"]),
        "errors": result["errors"],
        "e2e_p50": pct(result["e2e"], 50),
        "e2e_p99": pct(result["e2e"], 99),
        "model_p50": pct(result["model"], 50),
        "retrieval_p50": pct(result["retrieval"], 50),
        "overhead_p50": pct(result["overhead"], 50),
        "overhead_p99": pct(result["overhead"], 99),
        "overhead_mean": statistics.fmean(result["overhead"]) if result["overhead"] else float("nan"),
        "ttft_p50": pct(result["ttft"], 50),
        "ttft_p99": pct(result["ttft"], 99),
    }


def line(row: dict) -> str:
    return (
        f"{row['clients']:>7} {row['requests']:>5} {row['e2e_p50']:>8.1f} {row['e2e_p99']:>8.1f} "
        f"{row['model_p50']:>9.1f} {row['retrieval_p50']:>8.1f} {row['overhead_p50']:>12.2f} "
        f"{row['overhead_p99']:>12.2f} {row['ttft_p50']:>8.1f} {row['ttft_p99']:>8.1f} {row['errors']:>4}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,10,50")
    parser.add_argument("--instant-requests", default="100,20,6", help="requests per client on the stub model")
    parser.add_argument(
        "--model-clients",
        default="1,4",
        help="levels on the real model (a CPU answers one at a time: 10, 50 take long)",
    )
    parser.add_argument("--model-requests", default="2,1", help="requests per client on the real model")
    parser.add_argument("--routes", default="instant,twin", help="which routes to measure")
    parser.add_argument("--max-tokens", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    levels = [int(c) for c in args.clients.split(",")]
    instant_requests = [int(r) for r in args.instant_requests.split(",")]
    model_levels = [int(c) for c in args.model_clients.split(",")]
    model_requests = [int(r) for r in args.model_requests.split(",")]
    routes_measured = args.routes.split(",")
    import yaml
    from gateway_harness import create_rig, drop_rig, make_key, start_gateway, start_inference

    home = Path(tempfile.mkdtemp(prefix="twin-gateway-bench-"))
    rig = create_rig(home, connector=False)
    services = []
    rag = None
    try:
        tenant = f"bench-{uuid.uuid4().hex[:6]}"
        started = time.perf_counter()
        documents = index_corpus(rig, home / "store", tenant)
        print(f"indexed {documents} sample documents in {time.perf_counter() - started:.1f} s", flush=True)
        shutil.copytree(home / "store", home / "store-direct")  # the embedded store admits one process
        rag = DirectRag(home / "store-direct", rig.dsn, tenant)
        stub_url = start_stub_model(args.max_tokens)
        inference_grpc = "127.0.0.1:9"  # nothing there: only the stub route is measured
        if "twin" in routes_measured:
            inference = start_inference(rig)
            services.append(inference.service)
            inference_grpc = inference.grpc_url
        routes = home / "routes.yaml"
        routes.write_text(
            yaml.safe_dump(
                {
                    "default_route": "twin",
                    "endpoints": {
                        "local-twin-llm": {"kind": "kserve-grpc", "url": inference_grpc, "timeout_s": 900},
                        "stub": {"kind": "openai", "url": stub_url, "model": "stub", "timeout_s": 60},
                    },
                    "routes": {
                        "twin": {"endpoints": ["local-twin-llm"], "timeout_s": 1800},
                        "instant": {"endpoints": ["stub"]},
                    },
                }
            )
        )
        gateway = start_gateway(
            rig,
            inference_url=None,
            ingest_url=None,
            embedder=False,
            store_path=home / "store",
            routes_file=routes,
            TWIN_LOG_LEVEL="WARNING",
            TWIN_QUOTA_REQUESTS_PER_MINUTE="1000000",
            TWIN_QUOTA_MAX_CONCURRENT="1000",
        )
        services.append(gateway.service)
        key = make_key(rig, tenant)
        asyncio.run(gateway_level(gateway.rest_url, key, "instant", 1, 5, args.max_tokens))  # warm-up
        direct_level(rag, "instant", stub_url, inference_grpc, 1, 5, args.max_tokens)  # warm-up
        report: dict[str, list] = {"instant": [], "twin": []}
        measured = (
            (
                "instant",
                levels,
                instant_requests,
                "route `instant`: a stub model answering at once (the gateway's cost)",
            ),
            ("twin", model_levels, model_requests, f"route `twin`: SmolLM2-135M on CPU, {args.max_tokens} new tokens"),
        )
        for route, route_levels, requests, title in measured:
            if route not in routes_measured:
                continue
            print(f"\n{title}; REST /v1/ask, ms")
            print(
                HEADER + f" | {'direct p50':>10} {'direct p99':>10} {'vs direct p50':>13} {'p99':>7} {'gw CPU/req':>10}"
            )
            for clients, n in zip(route_levels, requests, strict=True):
                cpu_before = cpu_seconds(gateway.service.proc.pid)
                result = asyncio.run(gateway_level(gateway.rest_url, key, route, clients, n, args.max_tokens))
                row = summarise(clients, result)
                # the gateway's own CPU per answered request (non-streamed + streamed): what it costs without waiting
                answered = len(result["e2e"]) + len(result["ttft"])
                row["gateway_cpu_ms"] = (cpu_seconds(gateway.service.proc.pid) - cpu_before) * 1000 / max(1, answered)
                direct = direct_level(rag, route, stub_url, inference_grpc, clients, n, args.max_tokens)
                row["direct_p50"], row["direct_p99"] = pct(direct, 50), pct(direct, 99)
                row["vs_direct_p50"] = row["e2e_p50"] - row["direct_p50"]
                row["vs_direct_p99"] = row["e2e_p99"] - row["direct_p99"]
                report[route].append(row)
                print(
                    line(row) + f" | {row['direct_p50']:>10.1f} {row['direct_p99']:>10.1f} "
                    f"{row['vs_direct_p50']:>13.1f} {row['vs_direct_p99']:>7.1f} {row['gateway_cpu_ms']:>10.2f}",
                    flush=True,
                )
        print("\ntargets for the gateway's overhead at 50 clients: p50 < 5 ms, p99 < 15 ms")
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
    finally:
        for service in reversed(services):
            service.stop()
        if rag is not None:
            rag.close()
        drop_rig(rig)
        shutil.rmtree(home, ignore_errors=True)  # the two copies of the store
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
