"""Embedding and cross-encoder backends: a loaded model and a batch function, nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class EmbedBackend:
    """A sentence-transformers embedder."""

    model: object
    dim: int

    @classmethod
    def load(cls, path: Path, device: str = "cpu") -> EmbedBackend:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(path), device=device)
        dim = (
            model.get_embedding_dimension()
            if hasattr(model, "get_embedding_dimension")
            else (model.get_sentence_embedding_dimension())
        )
        return cls(model=model, dim=int(dim))

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=max(1, len(texts)), convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


@dataclass
class RerankBackend:
    """A sentence-transformers CrossEncoder scoring (query, passage) pairs."""

    model: object

    @classmethod
    def load(cls, path: Path, device: str = "cpu") -> RerankBackend:
        from sentence_transformers import CrossEncoder

        return cls(model=CrossEncoder(str(path), device=device))

    def score(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        scores = self.model.predict(pairs, batch_size=max(1, len(pairs)), convert_to_numpy=True)
        return np.asarray(scores, dtype=np.float32).reshape(len(pairs))
