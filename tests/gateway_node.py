"""The embedder's CDC consumer and the gateway in one process over one embedded Qdrant store: what `twin node`
does (the embedded store admits one process). Run as a script by the gateway tests:

    python tests/integration/gateway/gateway_node.py        # configured by TWIN_* variables, as both services

TWIN_NODE_EMBEDDER=false runs the gateway alone (still over the store at TWIN_STORE_PATH).
"""

from __future__ import annotations

import asyncio
import os


async def main() -> None:
    from twin_common.service import bootstrap
    from twin_embedder.app import EmbedderConsumer
    from twin_embedder.metrics import EmbedderMetrics
    from twin_embedder.pipeline import ChangePipeline
    from twin_embedder.settings import EmbedderSettings
    from twin_gateway import run
    from twin_gateway.settings import GatewaySettings
    from twin_search.embedding import LocalEmbedder
    from twin_search.indexer import DocumentIndexer
    from twin_search.vectorstore.factory import open_vector_store

    gateway_settings = GatewaySettings()
    bootstrap(gateway_settings)
    embedder = LocalEmbedder()
    store = open_vector_store(gateway_settings.qdrant_url, gateway_settings.store_path)
    store.ensure_collection(embedder.dimension)
    consumer = None
    if os.environ.get("TWIN_NODE_EMBEDDER", "true").lower() != "false":
        embedder_settings = EmbedderSettings()
        consumer = EmbedderConsumer(
            embedder_settings, ChangePipeline(DocumentIndexer(store, embedder)), EmbedderMetrics()
        )
        await consumer.start()
    try:
        await run(gateway_settings, vector_store=store, embedder=embedder)
    finally:
        if consumer is not None:
            await consumer.stop()
        store.close()


if __name__ == "__main__":
    asyncio.run(main())
