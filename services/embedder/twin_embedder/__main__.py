"""Entry point of the embedder service: `twin-embedder` or `python -m twin_embedder`.

Runs the CDC consumer (FastStream) and the HTTP app (health, /metrics, store read view) in one event loop.
"""

from __future__ import annotations

import asyncio

from twin_common.service import bootstrap
from twin_search.vectorstore.base import VectorStore

from twin_embedder.app import EmbedderConsumer
from twin_embedder.http import build_app
from twin_embedder.metrics import EmbedderMetrics
from twin_embedder.pipeline import ChangePipeline
from twin_embedder.settings import EmbedderSettings


def build_pipeline(settings: EmbedderSettings, vector_store: VectorStore | None = None) -> ChangePipeline:
    from twin_search.indexer import DocumentIndexer

    if settings.embedder == "remote":
        from twin_embedder.remote_embedder import RemoteEmbedder

        embedder = RemoteEmbedder.connect(
            settings.inference_url,
            settings.inference_protocol,
            timeout_s=settings.inference_timeout_s,
            rows_per_call=settings.inference_rows_per_call,
        )
    else:
        from twin_search.embedding import LocalEmbedder

        embedder = LocalEmbedder()
    if vector_store is not None:  # shared with other services of one process (twin node)
        store = vector_store
    elif settings.qdrant_url:
        from twin_search.vectorstore.qdrant_server import QdrantServerStore

        store = QdrantServerStore.connect(url=settings.qdrant_url, timeout_s=settings.dependency_timeout_s)
    else:
        from twin_search.vectorstore.edge import EdgeVectorStore

        settings.store_path.parent.mkdir(parents=True, exist_ok=True)
        store = EdgeVectorStore(settings.store_path)
    features = None
    if settings.feast_project:
        from twin_embedder.feast_sink import FeastFeatureSink, open_ledger, open_store

        timeout = settings.dependency_timeout_s
        features = FeastFeatureSink(
            open_store(settings.feast_project, settings.feast_data_dir, settings.feast_redis, timeout),
            open_ledger(settings.feast_project, settings.feast_redis, timeout),
        )
    return ChangePipeline(DocumentIndexer(store, embedder), features)


async def run(settings: EmbedderSettings, vector_store: VectorStore | None = None) -> None:
    """Serve until SIGTERM / SIGINT or cancellation; a given vector_store is used, and left open for its owner."""
    import uvicorn

    pipeline = build_pipeline(settings, vector_store)
    consumer = EmbedderConsumer(settings, pipeline, EmbedderMetrics())
    server = uvicorn.Server(
        uvicorn.Config(build_app(settings, consumer), host=settings.http_host, port=settings.http_port, log_config=None)
    )
    await consumer.start()
    try:
        await server.serve()  # returns on SIGTERM / SIGINT
    finally:
        await consumer.stop()
        if vector_store is None:
            pipeline.store.close()


def main() -> None:
    settings = EmbedderSettings()
    bootstrap(settings)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
