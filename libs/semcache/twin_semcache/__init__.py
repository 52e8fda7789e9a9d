"""Answer cache of the LLM Twin gateway: exact, then semantic, invalidated by source document (docs/cache.md)."""
