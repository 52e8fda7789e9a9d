"""Search core: clean -> chunk -> embed -> index, and hybrid retrieval (dense + BM25, RRF, rerank)."""
