"""Shared pieces of the embedder unit tests: a deterministic embedder, a recording sink, a pipeline on an edge store."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from twin_embedder.features import DocumentFeatures
from twin_embedder.pipeline import ChangePipeline
from twin_search.indexer import DocumentIndexer
from twin_search.vectorstore.edge import EdgeVectorStore


class CountingEmbedder:
    """Deterministic vectors from text hashes; counts what it was asked to embed."""

    model_name = "fake-embedder"
    model_version = "1"
    dimension = 8

    def __init__(self):
        self.embedded: list[str] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def embed(self, texts: list[str]) -> np.ndarray:
        self.embedded.extend(texts)
        rows = [
            np.frombuffer(hashlib.sha256(t.encode()).digest()[:32], dtype=np.uint8)[:8].astype(np.float32) + 1
            for t in texts
        ]
        out = np.array(rows, dtype=np.float32).reshape(len(texts), self.dimension)
        return out / np.linalg.norm(out, axis=1, keepdims=True) if len(texts) else out


class RecordingSink:
    def __init__(self):
        self.pushed: list[DocumentFeatures] = []

    def push(self, features):
        self.pushed.extend(features)


@pytest.fixture
def pipeline(tmp_path):
    embedder = CountingEmbedder()
    sink = RecordingSink()
    store = EdgeVectorStore(tmp_path / "store")
    yield ChangePipeline(DocumentIndexer(store, embedder), sink)
    store.close()
