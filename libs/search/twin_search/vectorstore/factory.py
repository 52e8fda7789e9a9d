"""Open the vector store a service is configured for: a Qdrant server when a URL is given, else the embedded
Qdrant edge store at a path (Qdrant's engine in process; one process per path, so the services that share one
run in one process: `twin node`)."""

from __future__ import annotations

from pathlib import Path

from twin_search.vectorstore.base import VectorStore


def open_vector_store(qdrant_url: str | None, store_path: Path | str, collection: str = "twin_chunks") -> VectorStore:
    if qdrant_url:
        from twin_search.vectorstore.qdrant_server import QdrantServerStore

        return QdrantServerStore.connect(url=qdrant_url, collection=collection)
    from twin_search.vectorstore.edge import EdgeVectorStore

    path = Path(store_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return EdgeVectorStore(path)
