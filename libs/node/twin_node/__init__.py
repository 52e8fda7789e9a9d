"""`twin node`: several platform services in one process and one event loop, sharing one vector store.

The embedded Qdrant engine admits one process per store, so where no Qdrant server runs, the services that
touch the vector store (the embedder writing, the gateway's retrieval reading) run together — the monolithic
target that Loki, Tempo and Mimir offer. Each service stays its own module with its own entry point; pointed
at a Qdrant server (TWIN_QDRANT_URL) they run apart.
"""
