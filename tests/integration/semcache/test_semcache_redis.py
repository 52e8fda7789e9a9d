"""The answer cache against the stack's Redis (redis-stack-server with search): exact then semantic hits, look-alikes
refused, tenants never sharing an entry, invalidation by cited document (both kinds of entry), the fill that races
with an invalidation, the size limit and the TTL."""

from __future__ import annotations

import time

from twin_common.events import CacheHit
from twin_semcache.cache import CachedAnswer
from twin_semcache.keys import Scope

Q = "What does Maren say about at-least-once delivery?"
PARAPHRASE = "What is Maren's view on at-least-once delivery?"


def _entry(scope: Scope, question: str, answer: str, documents=("doc-1",)) -> CachedAnswer:
    return CachedAnswer(
        answer, scope.tenant_id, question, list(documents), [{"number": 1, "document_id": documents[0]}]
    )


def _wait(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_exact_then_semantic_hit_and_a_lookalike_refused(make_cache):
    cache = make_cache()
    scope = Scope("tenant-a", "twin", "v1", "tpl-1")
    assert cache.lookup(Q, scope).kind is CacheHit.NONE
    assert cache.fill(Q, scope, _entry(scope, Q, "Fine when idempotent [1]."), requested_at=time.time())
    exact = cache.lookup("what does maren say about AT-LEAST-ONCE delivery", scope)
    assert (
        exact.kind is CacheHit.EXACT and exact.similarity == 1.0 and exact.entry.answer == "Fine when idempotent [1]."
    )
    semantic = cache.lookup(PARAPHRASE, scope)
    assert semantic.kind is CacheHit.SEMANTIC and 0.86 <= semantic.similarity < 1.0
    refused = cache.lookup("What does Maren not say about at-least-once delivery?", scope)
    assert refused.kind is CacheHit.NONE and refused.refused == "negation"
    assert cache.lookup(Q, Scope("tenant-a", "twin", "v2", "tpl-1")).kind is CacheHit.NONE  # another model version


def test_the_same_question_from_two_tenants_never_shares_an_entry(make_cache):
    cache = make_cache()
    a, b = Scope("tenant-a", "twin", "v1", "tpl-1"), Scope("tenant-b", "twin", "v1", "tpl-1")
    cache.fill(Q, a, _entry(a, Q, "A's answer [1]."), requested_at=time.time())
    assert cache.lookup(Q, b).kind is CacheHit.NONE
    assert cache.lookup(PARAPHRASE, b).kind is CacheHit.NONE
    cache.fill(Q, b, _entry(b, Q, "B's answer [1]."), requested_at=time.time())
    assert cache.lookup(Q, a).entry.answer == "A's answer [1]."
    assert cache.lookup(Q, b).entry.answer == "B's answer [1]."
    assert cache.lookup(PARAPHRASE, b).entry.answer == "B's answer [1]."
    assert cache.lookup(PARAPHRASE, a).entry.answer == "A's answer [1]."


def test_invalidation_removes_exact_and_semantic_entries_citing_the_document(make_cache):
    cache = make_cache()
    scope = Scope("tenant-a", "twin", "v1", "tpl-1")
    other_q = "How should I check a beehive in winter?"
    cache.fill(Q, scope, _entry(scope, Q, "old [1].", ("doc-1", "doc-2")), requested_at=time.time())
    cache.fill(other_q, scope, _entry(scope, other_q, "heft it [1].", ("doc-9",)), requested_at=time.time())
    assert cache.invalidate("tenant-b", "doc-1") == 0  # another tenant's document of the same id
    assert cache.lookup(Q, scope).hit
    assert cache.invalidate("tenant-a", "doc-2") == 2  # the exact key and the semantic entry
    assert cache.lookup(Q, scope).kind is CacheHit.NONE
    assert cache.lookup(PARAPHRASE, scope).kind is CacheHit.NONE
    assert cache.lookup(other_q, scope).hit  # cites another document


def test_a_fill_that_raced_an_invalidation_withdraws_itself(make_cache):
    cache = make_cache()
    scope = Scope("tenant-a", "twin", "v1", "tpl-1")
    requested_at = time.time()
    time.sleep(0.01)
    cache.invalidate("tenant-a", "doc-1")  # the document changed while the answer was being generated
    assert not cache.fill(Q, scope, _entry(scope, Q, "stale [1]."), requested_at=requested_at)
    assert cache.lookup(Q, scope).kind is CacheHit.NONE
    assert cache.fill(Q, scope, _entry(scope, Q, "fresh [1]."), requested_at=time.time())


def test_size_limit_evicts_the_oldest(make_cache):
    cache = make_cache(max_entries_per_tenant=4)
    scope = Scope("tenant-a", "twin", "v1", "tpl-1")
    questions = ["What is CDC?", "What is a replication slot?", "Why small batches?"]
    for question in questions:
        cache.fill(question, scope, _entry(scope, question, "a [1]."), requested_at=time.time())
    # 3 answers = 6 keys (exact + semantic) over a limit of 4: the first answer's keys went first
    assert cache.client.zcard(cache._entries("tenant-a")) == 4
    assert cache.lookup(questions[0], scope).kind is CacheHit.NONE
    assert cache.lookup(questions[2], scope).kind is CacheHit.EXACT


def test_entries_expire_after_their_ttl(make_cache):
    cache = make_cache(ttl_s=3)
    scope = Scope("tenant-a", "twin", "v1", "tpl-1")
    cache.fill(Q, scope, _entry(scope, Q, "a [1]."), requested_at=time.time())
    keys = [k.decode() for k in cache.client.zrange(cache._entries("tenant-a"), 0, -1)]
    assert len(keys) == 2 and all(0 < cache.client.pttl(k) <= 3000 for k in keys)  # exact and semantic entry
    assert _wait(lambda: cache.lookup(Q, scope).kind is CacheHit.NONE, timeout=30)
    assert not any(cache.client.exists(k) for k in keys)
