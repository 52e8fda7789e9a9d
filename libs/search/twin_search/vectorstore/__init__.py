"""Vector stores: one contract, two adapters (Qdrant server via qdrant-client; embedded Qdrant edge)."""

from twin_search.vectorstore.base import (
    FilterError,
    IndexedChunk,
    ScoredChunk,
    SearchFilter,
    VectorStore,
)

__all__ = ["FilterError", "IndexedChunk", "ScoredChunk", "SearchFilter", "VectorStore"]
