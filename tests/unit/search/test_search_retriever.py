import pytest
from twin_search.indexer import DocumentIndexer
from twin_search.retriever import HybridRetriever, Mode, RetrievalSettings
from twin_search.vectorstore.base import SearchFilter
from twin_search.vectorstore.edge import EdgeVectorStore


class LengthReranker:
    """Prefers shorter passages: an order no retriever stage would produce on its own."""

    name = "length"

    def score(self, query, passages):
        return [-float(len(p)) for p in passages]


@pytest.fixture
def retriever(tmp_path, embedder, make_doc):
    store = EdgeVectorStore(tmp_path / "store")
    indexer = DocumentIndexer(store, embedder)
    docs = {
        "kafka": "Kafka brokers store partitions and consumer offsets durably on disk for a long time.",
        "wal": "PostgreSQL writes the WAL; logical decoding with pgoutput exposes row changes.",
        "qdrant": "Qdrant builds an HNSW graph for dense vectors and an inverted index for sparse ones.",
        "short": "Kafka offsets.",
    }
    for doc_id, text in docs.items():
        indexer.index(make_doc(doc_id, text))
    indexer.index(make_doc("other", "Kafka offsets of another tenant.", tenant="other"))
    yield HybridRetriever(store, embedder, indexer.bm25, RetrievalSettings(candidates=10))
    store.close()


def test_each_mode_finds_the_matching_document_and_times_its_stages(retriever):
    flt = SearchFilter("acme")
    for mode, stages in [
        (Mode.DENSE, {"embed", "dense"}),
        (Mode.BM25, {"sparse"}),
        (Mode.HYBRID, {"embed", "dense", "sparse", "fusion"}),
    ]:
        result = retriever.search("logical decoding pgoutput WAL", flt, top_k=3, mode=mode)
        assert result.hits[0].document_id == "wal"
        assert stages <= set(result.timings_ms) and not result.reranked


def test_rerank_is_skipped_without_a_reranker_and_reorders_with_one(retriever):
    flt = SearchFilter("acme")
    plain = retriever.search("kafka consumer offsets", flt, top_k=2)
    assert not plain.reranked and "rerank" not in plain.timings_ms
    retriever.reranker = LengthReranker()
    reranked = retriever.search("kafka consumer offsets", flt, top_k=2)
    assert reranked.reranked and reranked.hits[0].document_id == "short"
    assert {h.payload["tenant_id"] for h in reranked.hits} == {"acme"}


def test_expansion_variants_are_searched_and_fused(retriever):
    retriever.expander = lambda q, n: ["HNSW graph dense vectors"]
    retriever.settings = RetrievalSettings(candidates=10, expansions=1)
    result = retriever.search("zzz unrelated words", SearchFilter("acme"), top_k=1, mode=Mode.BM25)
    assert result.queries == ["zzz unrelated words", "HNSW graph dense vectors"]
    assert result.hits[0].document_id == "qdrant"
    assert "expand" in result.timings_ms


def test_llm_expander_parses_numbered_lines_and_keeps_at_most_n():
    from twin_search.rewrite import LlmQueryExpander

    asked = []

    def generate(messages):
        asked.append(messages)
        return '1. vector graph index\n2) "approximate neighbours"\n- \n* hnsw search\n4. ' + "x" * 400

    variants = LlmQueryExpander(generate)("hnsw", 2)
    assert variants == ["vector graph index", "approximate neighbours"]
    assert "hnsw" in asked[0][0]["content"] and "2 different ways" in asked[0][0]["content"]
    assert LlmQueryExpander(generate)("hnsw", 5) == ["vector graph index", "approximate neighbours", "hnsw search"]


def test_no_expansion_without_an_expander_or_with_zero_variants(retriever):
    retriever.expander = lambda q, n: (_ for _ in ()).throw(AssertionError("expander called"))
    retriever.settings = RetrievalSettings(candidates=10, expansions=0)
    result = retriever.search("qdrant", SearchFilter("acme"), top_k=1, mode=Mode.BM25)
    assert result.queries == ["qdrant"] and "expand" not in result.timings_ms


def test_rrf_rerank_fusion_blends_the_retrieval_and_reranker_orders(retriever):
    flt = SearchFilter("acme")
    plain = [h.document_id for h in retriever.search("kafka consumer offsets partitions disk", flt, top_k=4).hits]
    retriever.reranker = type(
        "Reverse", (), {"name": "reverse", "score": lambda self, q, ps: [float(i) for i in range(len(ps))]}
    )()
    replaced = [h.document_id for h in retriever.search("kafka consumer offsets partitions disk", flt, top_k=4).hits]
    assert replaced == plain[::-1]  # the reranker alone reverses the order
    from dataclasses import replace

    retriever.settings = replace(retriever.settings, rerank_fusion="rrf")
    blended = [h.document_id for h in retriever.search("kafka consumer offsets partitions disk", flt, top_k=4).hits]
    # RRF with k=60: ranks (1, 4) and (4, 1) score 1/61 + 1/64, just above (2, 3) and (3, 2) with 1/62 + 1/63
    assert set(blended[:2]) == {plain[0], plain[-1]} and set(blended[2:]) == {plain[1], plain[2]}


def test_unknown_rerank_fusion_is_refused():
    with pytest.raises(ValueError, match="rerank_fusion"):
        RetrievalSettings(rerank_fusion="average")
