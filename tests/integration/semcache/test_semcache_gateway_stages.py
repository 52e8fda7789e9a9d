"""The cache stages in the gateway's real pipeline runner, on the stack's Redis and Kafka: a repeated question and a
paraphrase are answered from the cache without the model; after the cited document is edited the stale answer is
not served (the hit is checked against the document's current content hash), and the DocumentIndexed update on
Kafka removes the entries; another tenant's identical question never gets the entry.
Retrieval and the model are stubs over an editable document table; everything else is the gateway's code."""

from __future__ import annotations

import asyncio
import time
import uuid
from types import SimpleNamespace

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from twin_common.events import CacheHit, ChangeOp, DocumentIndexed
from twin_common.settings import KafkaSettings
from twin_gateway.metrics import GatewayMetrics
from twin_gateway.pipeline.context import Caller, Citation, GatewayRequest, Operation, RequestContext, Surface
from twin_gateway.pipeline.runner import Pipeline
from twin_gateway.pipeline.stage import Stage
from twin_gateway.stages.cache_fill import CacheFillStage
from twin_gateway.stages.cache_lookup import CacheLookupStage, scope_of
from twin_search.vectorstore.base import ScoredChunk

QUESTION = "What batch size does Maren recommend for the embedder?"
PARAPHRASE = "Which batch size does Maren recommend for the embedder?"


class _Resources:
    def __init__(self, embedder, documents):
        self.extra = {}
        self.metrics = GatewayMetrics()
        self.settings = SimpleNamespace(rag=SimpleNamespace(verify_citations=True))
        self.documents = documents

        self.retriever = SimpleNamespace(embedder=embedder)
        self.stale_checks = 0

        async def fetch(sql, params, what=""):  # the documents table: id and content hash
            self.stale_checks += 1
            tenant, ids = params
            return [
                {"id": d, "content_hash": str(hash(documents[(tenant, d)]))} for d in ids if (tenant, d) in documents
            ]

        self.db = SimpleNamespace(fetch=fetch)

    async def run_blocking(self, fn, *args):
        return await asyncio.to_thread(fn, *args)


class _Front(Stage):
    """auth + route: the caller's tenant, the route, the template and the question's embedding."""

    name = "route"

    def __init__(self, embedder):
        self.embedder = embedder

    async def run(self, ctx):
        ctx.caller = Caller("k", ctx.request.author, frozenset({"ask"}), frozenset())  # tenant rides in `author`
        ctx.route, ctx.template_version, ctx.use_retrieval, ctx.intent = "twin", "grounded-v1", True, "grounded"
        ctx.query_embedding = [float(x) for x in self.embedder.embed([ctx.prompt_text])[0]]


class _RetrieveAndGenerate(Stage):
    name = "generate"

    def __init__(self, documents):
        self.documents = documents
        self.calls = 0

    async def run(self, ctx):
        self.calls += 1
        text = self.documents[(ctx.tenant_id, "doc-1")]
        payload = {"document_id": "doc-1", "text": text, "position": 0, "content_hash": str(hash(text))}
        ctx.hits = [ScoredChunk("c1", 0.9, payload)]
        ctx.citations = [Citation(1, "doc-1", "Batching", None, 0, 0.9, text)]
        ctx.model, ctx.model_version = "twin-llm", "7"

        async def stream():
            for piece in (f"{text} ", "[1]."):
                yield piece

        ctx.token_stream = stream()


def test_cached_answer_is_dropped_after_its_document_is_edited_and_never_crosses_tenants(embedder, monkeypatch):
    suffix = uuid.uuid4().hex[:8]
    topic = f"twin-test-indexed-{suffix}"
    monkeypatch.setenv("TWIN_SEMCACHE_NAMESPACE", f"twin:cache-test:{suffix}")
    monkeypatch.setenv("TWIN_SEMCACHE_TOPIC", topic)
    monkeypatch.setenv("TWIN_SEMCACHE_GROUP_ID", f"twin-test-invalidator-{suffix}")
    bootstrap = KafkaSettings().bootstrap_servers
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    admin.close()
    documents = {("tenant-a", "doc-1"): "Maren recommends batches of 64.", ("tenant-b", "doc-1"): "Use batches of 8."}
    resources = _Resources(embedder, documents)
    model = _RetrieveAndGenerate(documents)
    lookup, fill = CacheLookupStage.build(resources), CacheFillStage.build(resources)
    pipeline = Pipeline("ask", [_Front(embedder), lookup, model, fill], GatewayMetrics())
    cache = resources.extra["semcache"]

    async def ask(question: str, tenant: str) -> RequestContext:
        ctx = RequestContext(
            GatewayRequest(Operation.ASK, Surface.REST, question=question, author=tenant),
            credentials="k",
            prompt_text=question,
        )
        await pipeline.call(ctx)
        return ctx

    async def settle() -> None:  # the fill writes after the answer went out
        while fill._writes:
            await asyncio.sleep(0.01)

    async def scenario() -> dict:
        await fill.start()
        deadline = time.monotonic() + 60
        while not fill.invalidator.running and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        try:
            first = await ask(QUESTION, "tenant-a")
            await settle()
            again = await ask(QUESTION, "tenant-a")
            paraphrased = await ask(PARAPHRASE, "tenant-a")
            other_tenant = await ask(QUESTION, "tenant-b")
            await settle()
            calls_before_edit = model.calls

            # an edit, before its DocumentIndexed event: the hit is refused (PostgreSQL has another content hash)
            documents[("tenant-a", "doc-1")] = "Maren now recommends batches of 256."
            after_edit = await ask(QUESTION, "tenant-a")
            paraphrase_after_edit = await ask(PARAPHRASE, "tenant-a")
            other_after_edit = await ask(QUESTION, "tenant-b")
            await settle()
            scope = scope_of(after_edit, "7")
            cached_before_event = cache.lookup(QUESTION, scope).hit  # the answer made after the edit was stored

            # the DocumentIndexed event removes every entry citing the document, exact and semantic
            producer = KafkaProducer(bootstrap_servers=bootstrap)
            event = DocumentIndexed(
                tenant_id="tenant-a",
                document_id="doc-1",
                content_hash="new",
                op=ChangeOp.UPDATE,
                chunk_count=1,
                embedding_model="m",
            )
            sent = time.perf_counter()
            producer.send(topic, event.to_bytes()).get(timeout=30)
            producer.close()
            deadline = time.monotonic() + 60
            while fill.invalidator.handled < 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            delay_ms = (time.perf_counter() - sent) * 1000
            exact_after_event = cache.lookup(QUESTION, scope).kind
            semantic_after_event = cache.lookup(PARAPHRASE, scope).kind
            return locals()
        finally:
            await fill.close()

    try:
        r = asyncio.run(scenario())
    finally:
        cache.semantic.delete()
        for key in cache.client.scan_iter(f"{cache.ns}:*"):
            cache.client.delete(key)

    seen = {k: (v.cache_hit.value, v.answer_text) for k, v in r.items() if isinstance(v, RequestContext)} | {
        k: r[k] for k in ("calls_before_edit", "cached_before_event", "exact_after_event", "semantic_after_event")
    }
    assert r["first"].cache_hit is CacheHit.NONE and "64" in r["first"].answer_text, seen
    assert r["again"].cache_hit is CacheHit.EXACT and r["again"].answer_text == r["first"].answer_text, seen
    assert [c.document_id for c in r["again"].citations] == ["doc-1"]
    assert r["paraphrased"].cache_hit is CacheHit.SEMANTIC and r["paraphrased"].cache_similarity >= 0.86, seen
    assert r["other_tenant"].cache_hit is CacheHit.NONE and "8" in r["other_tenant"].answer_text, seen
    assert r["calls_before_edit"] == 2, seen  # tenant a's first question and tenant b's
    # after the edit: neither the exact nor the semantic entry serves the stale answer
    assert r["after_edit"].cache_hit is CacheHit.NONE and "256" in r["after_edit"].answer_text, seen
    assert "64" not in r["paraphrase_after_edit"].answer_text, seen
    # tenant b's entry cites its own doc-1 and was not touched by tenant a's edit
    assert r["other_after_edit"].cache_hit is CacheHit.EXACT and "8" in r["other_after_edit"].answer_text, seen
    assert r["cached_before_event"], seen
    assert r["exact_after_event"] is CacheHit.NONE and r["semantic_after_event"] is CacheHit.NONE, seen
    print(f"invalidation: {r['delay_ms']:.0f} ms from the DocumentIndexed event to the entries' removal")
