"""Latency of the gateway's safety and cost stages, in one run:

1. each input rail alone (PII + secrets through Presidio, injection, toxicity, limits) and all input rails together,
   run one after the other (workers=1) and concurrently (workers=2), p50/p95 over the 228 prompts of the labelled
   set; the retrieval rail on 5 chunks; the output guard per streamed piece. Wall time and the calling thread's CPU
   time are both printed (the wall time includes waiting for a core on a shared machine);
2. end to end through a real gateway process (tests/gateway_harness.py rig: ingest -> PostgreSQL -> Debezium ->
   Kafka -> embedder, the gateway's full pipeline) for a cache miss, an exact hit and a semantic hit (a paraphrase),
   each measured on the same questions in the same run. The model is the scripted OpenAI-compatible upstream of the
   tests (instant, so the miss shows the gateway's own path: retrieval, rails, streaming); `--inference-url` puts a
   real KServe V2 model server behind it instead.

    export TWIN_LOCAL_PORT_OFFSET=...; make up
    .venv/bin/python benchmarks/guardrails_bench.py               # both parts
    .venv/bin/python benchmarks/guardrails_bench.py --rails-only  # part 1, no servers
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _line(name: str, wall: list[float], cpu: list[float] | None = None) -> str:
    text = f"  {name:<34} n={len(wall):>4}  p50 {_pct(wall, 50):7.2f} ms  p95 {_pct(wall, 95):7.2f} ms"
    if cpu:
        text += f"   cpu p50 {_pct(cpu, 50):6.2f} ms"
    return text


def _timed(fn, *args) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.thread_time()
    fn(*args)
    return (time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000


def rails_part() -> None:
    from twin_guardrails.evaluation import load
    from twin_guardrails.input_rails import InputRails
    from twin_guardrails.rails import Guardrails
    from twin_guardrails.retrieval_rail import ChunkRef
    from twin_guardrails.settings import DEFAULT_PII_ENTITIES, GuardrailSettings, TenantPolicy

    rails = Guardrails()
    prompts = [r["text"] for r in load("prompts.jsonl")]
    for text in prompts[:20]:  # warm-up: first calls build caches
        rails.input.check(text, "bench")
    print(
        f"== rails, {len(prompts)} prompts (mean {statistics.mean(map(len, prompts)):.0f} characters), "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    policy = TenantPolicy(languages=("en",))
    single = {
        "input.pii + input.secrets (Presidio)": lambda t: rails.input.pii.find(t, DEFAULT_PII_ENTITIES),
        "input.injection (classifier+rules)": rails.input.injection.score,
        "input.toxicity (classifier+rules)": rails.input.toxicity.score,
        "input.limits (chars, tokens, language)": lambda t: rails.input.limits.check(t, policy),
    }
    for name, fn in single.items():
        measured = [_timed(fn, t) for t in prompts]
        print(_line(name, [w for w, _ in measured], [c for _, c in measured]))
    for workers in (1, 2):
        together = InputRails(
            GuardrailSettings(workers=workers),
            pii=rails.input.pii,
            injection=rails.input.injection,
            toxicity=rails.input.toxicity,
        )
        wall = []
        for text in prompts:
            started = time.perf_counter()
            together.check(text, "bench")
            wall.append((time.perf_counter() - started) * 1000)
        together.close()
        label = "all input rails, one after the other" if workers == 1 else "all input rails, 2 threads"
        print(_line(label, wall))
    chunks = [ChunkRef(r["text"], r["id"]) for r in load("chunks.jsonl")]
    measured = [_timed(rails.retrieval.check, chunks[i : i + 5], "bench") for i in range(0, len(chunks) - 5)]
    print(_line("retrieval rail, 5 chunks", [w for w, _ in measured], [c for _, c in measured]))
    answer = (
        "Small batches keep the median latency low: send what is ready now [1], and let batches grow "
        "only when work piles up faster than it drains [2]. Maren measured 14 ms at p50. "
    ) * 2
    pieces = [w + " " for w in answer.split(" ")]
    per_piece = []
    for _ in range(20):
        guard = rails.output.guard("bench", citation_count=2)
        for piece in pieces:
            per_piece.append(_timed(guard.feed, piece))
        guard.finish()
    print(_line("output guard, per streamed word", [w for w, _ in per_piece], [c for _, c in per_piece]))


QUESTIONS = [
    ("Why are small batches better for latency?", "Why do small batches give lower latency?"),
    ("How should I check a beehive in winter?", "How do I inspect a hive during winter?"),
    ("What happens to a replication slot nobody reads?", "What happens if no one consumes a replication slot?"),
    ("Why is the log the database?", "Why does Maren say the log is the database?"),
    ("How do you make ingest idempotent with a hash?", "How can ingest be made idempotent using a hash?"),
    ("What does linger.ms do in a Kafka producer?", "What is the effect of linger.ms on a Kafka producer?"),
    ("Why test against real servers instead of fakes?", "Why should tests use real servers rather than fakes?"),
    ("How are tenants kept apart?", "How does the platform keep tenants apart from each other?"),
]


def gateway_part(inference_url: str | None, rounds: int) -> None:
    import httpx

    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT / "tests" / "integration" / "guardrails"))
    from gateway_harness import create_rig, drop_rig, free_port, make_key, start_gateway, start_ingest, wait_until
    from scripted_upstream import ScriptedUpstream, routes_yaml

    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"guardrails-bench-{os.getpid()}"
    home.mkdir(parents=True, exist_ok=True)
    rig = create_rig(home)
    upstream = None
    services = []
    try:
        routes = None
        if inference_url is None:
            upstream = ScriptedUpstream(free_port()).start()
            routes = home / "routes.yaml"
            routes.write_text(routes_yaml(upstream.port, max_tokens=64))
        ingest, ingest_url = start_ingest(rig)
        services.append(ingest)
        gateway = start_gateway(
            rig,
            inference_url=inference_url,
            ingest_url=ingest_url,
            routes_file=routes,
            TWIN_SEMCACHE_NAMESPACE=f"twin:cache-bench:{rig.suffix}",
            TWIN_SEMCACHE_TOPIC=rig.indexed_topic,
            TWIN_SEMCACHE_GROUP_ID=f"{rig.group}-cache",
            TWIN_QUOTA_REQUESTS_PER_MINUTE="100000",
        )
        services.append(gateway.service)
        http = httpx.Client(
            base_url=gateway.rest_url, timeout=300, headers={"Authorization": f"Bearer {make_key(rig, 'bench')}"}
        )
        documents = []
        for path in sorted((ROOT / "samples" / "corpus" / "articles").glob("*.md")):
            documents.append(
                {"external_id": path.name, "kind": "article", "title": path.stem, "content": path.read_text()}
            )
        assert http.post("/v1/documents", json={"author": "maren", "documents": documents}).status_code == 200
        wait_until(
            lambda: len(http.post("/v1/search", json={"query": "small batches", "top_k": 5}).json()["hits"]) >= 3,
            300,
            "the corpus to be searchable",
        )
        timings: dict[str, list[float]] = {"miss": [], "exact": [], "semantic": []}
        kinds_seen: dict[str, int] = {}

        def ask(question: str) -> tuple[float, str]:
            started = time.perf_counter()
            body = http.post("/v1/ask", json={"question": question, "generation": {"max_tokens": 48}}).json()
            return (time.perf_counter() - started) * 1000, body.get("cache_kind", "error")

        for round_ in range(rounds):
            for question, paraphrase in QUESTIONS:
                tag = f" (round {round_})" if round_ else ""
                ms, kind = ask(question + tag)
                if kind == "none":
                    timings["miss"].append(ms)
                time.sleep(0.3)  # the fill is written after the answer went out
                ms, kind = ask(question + tag)
                kinds_seen[f"repeat:{kind}"] = kinds_seen.get(f"repeat:{kind}", 0) + 1
                if kind == "exact":
                    timings["exact"].append(ms)
                ms, kind = ask(paraphrase + tag)
                kinds_seen[f"paraphrase:{kind}"] = kinds_seen.get(f"paraphrase:{kind}", 0) + 1
                if kind == "semantic":
                    timings["semantic"].append(ms)
        model = "scripted OpenAI-compatible upstream" if inference_url is None else f"model at {inference_url}"
        print(f"== end to end through the gateway (REST /v1/ask, {model}), outcomes {kinds_seen}")
        for kind in ("miss", "exact", "semantic"):
            if timings[kind]:
                print(_line(f"cache {kind}", timings[kind]))
    finally:
        for service in reversed(services):
            service.stop()
        if upstream is not None:
            upstream.stop()
        drop_rig(rig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rails-only", action="store_true")
    parser.add_argument("--inference-url", help="a KServe V2 gRPC model server instead of the scripted upstream")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    rails_part()
    if not args.rails_only:
        gateway_part(args.inference_url, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
