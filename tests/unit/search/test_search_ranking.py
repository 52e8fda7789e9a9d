import math

import pytest
from twin_search.context import build_context
from twin_search.eval.beir import load_beir, split_queries
from twin_search.eval.metrics import mrr_at_k, ndcg_at_k, percentile, recall_at_k
from twin_search.fusion import dedupe_by_document, reciprocal_rank_fusion
from twin_search.rewrite import expand, self_query
from twin_search.vectorstore.base import ScoredChunk, SearchFilter


def hit(cid: str, doc: str = None, text: str = "t", score: float = 0.0) -> ScoredChunk:
    return ScoredChunk(cid, score, {"document_id": doc or cid, "text": text, "title": f"T{cid}", "position": 0})


def test_rrf_rewards_agreement_between_rankings():
    dense = [hit("a"), hit("b"), hit("c")]
    sparse = [hit("c"), hit("d"), hit("a")]
    fused = reciprocal_rank_fusion([dense, sparse], k=60)
    assert [h.chunk_id for h in fused] == ["a", "c", "b", "d"]
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 63)


def test_rrf_weights_and_k_change_the_order():
    dense, sparse = [hit("a"), hit("b")], [hit("b"), hit("a")]
    assert reciprocal_rank_fusion([dense, sparse], weights=[2, 1])[0].chunk_id == "a"
    assert reciprocal_rank_fusion([dense, sparse], weights=[1, 2])[0].chunk_id == "b"
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([dense, sparse], weights=[1])


def test_rrf_counts_a_chunk_once_per_ranking():
    fused = reciprocal_rank_fusion([[hit("a"), hit("a"), hit("b")]], k=0)
    assert [h.chunk_id for h in fused] == ["a", "b"] and fused[0].score == 1.0


def test_dedupe_keeps_best_chunk_per_document():
    hits = [hit("c1", "d1"), hit("c2", "d2"), hit("c3", "d1")]
    assert [h.chunk_id for h in dedupe_by_document(hits)] == ["c1", "c2"]


def test_metrics_match_hand_computed_values():
    relevant = {"d1": 1, "d3": 1}
    ranked = ["d2", "d1", "d4", "d3"]
    ideal = 1 + 1 / math.log2(3)
    assert ndcg_at_k(ranked, relevant, 10) == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert ndcg_at_k(ranked, relevant, 1) == 0.0
    assert recall_at_k(ranked, relevant, 2) == 0.5 and recall_at_k(ranked, relevant, 100) == 1.0
    assert mrr_at_k(ranked, relevant, 10) == 0.5 and mrr_at_k(["x"], relevant, 10) == 0.0
    assert percentile([5, 1, 3, 2, 4], 50) == 3 and percentile(list(range(1, 101)), 95) == 95


def test_split_is_deterministic_disjoint_and_near_the_fraction():
    ids = [str(i) for i in range(2000)]
    fit, heldout = split_queries(ids, 0.3)
    assert split_queries(ids, 0.3) == (fit, heldout)
    assert not set(fit) & set(heldout) and len(fit) + len(heldout) == 2000
    assert 0.26 < len(heldout) / 2000 < 0.34
    with pytest.raises(ValueError):
        split_queries(ids, 1.5)


def test_load_beir_reads_corpus_queries_and_positive_qrels(tmp_path):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text('{"_id": "1", "title": "A", "text": "x"}\n{"_id": "2", "text": "y"}\n')
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "find x"}\n{"_id": "q2", "text": "unjudged"}\n')
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\t1\t1\nq1\t2\t0\n")
    ds = load_beir(tmp_path)
    assert ds.corpus["2"].title == "" and ds.qrels == {"q1": {"1": 1}} and ds.judged_queries() == ["q1"]
    with pytest.raises(FileNotFoundError, match="corpus.jsonl"):
        load_beir(tmp_path / "qrels")


def test_context_respects_budget_and_numbers_citations():
    hits = [hit("a", text="alpha " * 50), hit("b", text="beta " * 500), hit("c", text="gamma " * 10)]
    ctx = build_context(hits, lambda s: len(s.split()), token_budget=80, top_k=5)
    assert [c.document_id for c in ctx.citations] == ["a", "c"]  # b alone exceeds the budget
    assert ctx.text.startswith("[1] Ta\n") and "[2] Tc\n" in ctx.text and ctx.tokens <= 80


def test_self_query_narrows_kinds_and_tags_but_never_the_tenant():
    flt = SearchFilter("acme", author_ids=("ann",))
    narrowed = self_query("what did my posts say about Kafka? tenant: other", flt, known_tags=["kafka", "qdrant"])
    assert narrowed.tenant_id == "acme" and narrowed.author_ids == ("ann",)
    assert narrowed.kinds == ("post",) and narrowed.tags == ("kafka",)
    assert self_query("plain question", flt) == flt


def test_expansion_keeps_original_first_and_drops_duplicates():
    variants = expand("cdc lag", lambda q, n: ["CDC lag", "replication delay", "", "wal backlog", "extra"], 2)
    assert variants == ["cdc lag", "replication delay", "wal backlog"]
    assert expand("q", None, 3) == ["q"]
