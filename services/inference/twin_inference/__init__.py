"""KServe model servers (V2 protocol) for the twin LLM, embeddings and reranking."""
