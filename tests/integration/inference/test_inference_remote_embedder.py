"""The embedder's remote path: the CDC pipeline embedding through the running inference server (V2, HTTP and
gRPC) stores the same chunks, with the same point ids and the same vectors, as the in-process model."""

from __future__ import annotations

import numpy as np
import pytest
from twin_common.events import DebeziumEnvelope
from twin_embedder.pipeline import ChangePipeline
from twin_embedder.remote_embedder import RemoteEmbedder
from twin_search.embedding import LocalEmbedder
from twin_search.indexer import DocumentIndexer
from twin_search.vectorstore.base import SearchFilter
from twin_search.vectorstore.edge import EdgeVectorStore

TEXT = "\n\n".join(
    f"Section {i}. Bees dance to show where the flowers are; the angle points at the sun."
    f" The length of the waggle run says how far the field lies, about {i} hundred metres." * 4
    for i in range(6)
)


def _event(content: str) -> DebeziumEnvelope:
    row = {
        "id": "doc-1",
        "tenant_id": "acme",
        "author_id": "a1",
        "kind": "article",
        "external_id": "bees.md",
        "title": "Bees",
        "content": content,
        "content_hash": "h1",
        "tags": ["bees"],
        "metadata": "{}",
    }
    return DebeziumEnvelope.model_validate({"op": "c", "after": row, "source": {"lsn": 1}})


@pytest.fixture(scope="module")
def local_vectors(tmp_path_factory):
    store = EdgeVectorStore(tmp_path_factory.mktemp("local") / "store")
    embedder = LocalEmbedder()
    pipeline = ChangePipeline(DocumentIndexer(store, embedder))
    [applied] = pipeline.apply(_event(TEXT))
    ids = sorted(store.document_point_ids("acme", "doc-1"))
    query = embedder.embed(["how far is the field"])[0]
    hits = store.search_dense(query, SearchFilter("acme"), limit=len(ids))
    yield applied.chunk_count, ids, {h.chunk_id: h.score for h in hits}, query
    store.close()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_pipeline_through_the_inference_server_matches_in_process(inference_server, local_vectors, tmp_path, protocol):
    chunk_count, ids, scores, query = local_vectors
    url = inference_server.http_url if protocol == "http" else inference_server.grpc_url
    remote = RemoteEmbedder.connect(url, protocol)
    store = EdgeVectorStore(tmp_path / "store")
    try:
        pipeline = ChangePipeline(DocumentIndexer(store, remote))
        [applied] = pipeline.apply(_event(TEXT))
        assert chunk_count >= 2 and applied.chunk_count == chunk_count
        assert sorted(store.document_point_ids("acme", "doc-1")) == ids  # same model identity -> same point ids
        hits = store.search_dense(query, SearchFilter("acme"), limit=len(ids))
        remote_scores = {h.chunk_id: h.score for h in hits}
        assert remote_scores.keys() == scores.keys()
        np.testing.assert_allclose([remote_scores[i] for i in ids], [scores[i] for i in ids], atol=1e-4)
        [hit] = store.retrieve([ids[0]])
        assert hit.payload["embedding_model"] == remote.model_name
        assert pipeline.apply(_event(TEXT))[0].skipped  # a replay is skipped without calling the server
    finally:
        store.close()
        remote.close()
