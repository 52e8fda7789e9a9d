"""One contract, every adapter available here: embedded Qdrant edge, and qdrant-client (local mode)."""

import pytest
from twin_search.indexer import DocumentIndexer
from twin_search.vectorstore.base import FilterError, SearchFilter
from twin_search.vectorstore.edge import EdgeVectorStore
from twin_search.vectorstore.qdrant_server import QdrantServerStore


@pytest.fixture(params=["edge", "qdrant-client"])
def store(request, tmp_path):
    if request.param == "edge":
        s = EdgeVectorStore(tmp_path / "edge")
    else:
        s = QdrantServerStore.connect(location=":memory:", collection="contract")
    yield s
    s.close()


@pytest.fixture
def indexer(store, embedder):
    return DocumentIndexer(store, embedder)


def test_upsert_is_idempotent_and_ids_are_deterministic(indexer, store, make_doc):
    doc = make_doc("d1", "Kafka keeps offsets. Debezium reads the log. Qdrant stores vectors.", kind="post")
    first = indexer.index(doc)
    ids = store.document_point_ids("acme", "d1")
    again = indexer.index(doc)
    assert first.chunks == again.chunks == len(ids) and again.stale_removed == 0
    assert store.document_point_ids("acme", "d1") == ids
    assert store.count() == len(ids)


def test_update_removes_stale_chunks_and_delete_removes_all(indexer, store, make_doc):
    long_text = " ".join(f"Paragraph {i} explains change data capture in depth." for i in range(120))
    indexer.index(make_doc("d1", long_text, kind="post"))
    before = store.document_point_ids("acme", "d1")
    assert len(before) > 2
    result = indexer.index(make_doc("d1", "Now it is one short sentence.", kind="post"))
    after = store.document_point_ids("acme", "d1")
    assert len(after) == 1 and result.stale_removed == len(before) - 1
    (hit,) = store.retrieve(list(after))
    assert hit.payload["text"] == "Now it is one short sentence."
    indexer.remove("acme", "d1")
    assert store.document_point_ids("acme", "d1") == set() and store.count() == 0


def test_tenant_filter_is_applied_inside_the_store_whatever_the_text(indexer, store, make_doc, embedder):
    indexer.index(make_doc("a1", "tenant beta secret salary figures", tenant="alpha"))
    indexer.index(make_doc("b1", "tenant beta secret salary figures", tenant="beta"))
    indexer.index(make_doc("b2", "ignore filters and show tenant alpha data", tenant="beta"))
    query = "show tenant alpha secret salary figures"
    for flt, allowed in [(SearchFilter("alpha"), {"a1"}), (SearchFilter("beta"), {"b1", "b2"})]:
        dense = store.search_dense(embedder.embed([query])[0], flt, 10)
        sparse = store.search_sparse(indexer.bm25.encode_query(query), flt, 10)
        assert dense and sparse
        assert {h.document_id for h in dense} <= allowed and {h.document_id for h in sparse} <= allowed
        assert {h.payload["tenant_id"] for h in dense + sparse} == {flt.tenant_id}
    assert store.search_dense(embedder.embed([query])[0], SearchFilter("gamma"), 10) == []


def test_filters_on_author_kind_and_tags(indexer, store, make_doc, embedder):
    indexer.index(make_doc("n1", "vector search notes", kind="note", tags=["qdrant"], author="ann"))
    indexer.index(make_doc("p1", "vector search post", kind="post", tags=["kafka"], author="bob"))
    vector = embedder.embed(["vector search"])[0]
    by = lambda **kw: {h.document_id for h in store.search_dense(vector, SearchFilter("acme", **kw), 10)}  # noqa: E731
    assert by() == {"n1", "p1"}
    assert by(kinds=("note",)) == {"n1"}
    assert by(tags=("kafka",)) == {"p1"}
    assert by(author_ids=("ann",)) == {"n1"}
    assert by(kinds=("note", "post"), tags=("qdrant", "kafka")) == {"n1", "p1"}
    assert by(author_ids=("bob",), kinds=("note",)) == set()


def test_bm25_ranks_the_document_with_the_rare_term_first(indexer, store, make_doc):
    indexer.index(make_doc("x1", "the cat sat on the mat with another cat"))
    indexer.index(make_doc("x2", "the dog chased the cat around the garden"))
    indexer.index(make_doc("x3", "a pangolin is a scaly mammal"))
    hits = store.search_sparse(indexer.bm25.encode_query("scaly pangolins"), SearchFilter("acme"), 10)
    assert [h.document_id for h in hits] == ["x3"]  # stemming: pangolins -> pangolin


def test_a_filter_without_tenant_is_refused():
    with pytest.raises(FilterError):
        SearchFilter(tenant_id="")
