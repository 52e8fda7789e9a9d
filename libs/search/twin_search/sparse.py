"""BM25 as sparse vectors: term frequencies with BM25 saturation and length normalisation on the document
side, IDF applied by the vector store (sparse vectors with the IDF modifier), English stemming and stopwords.
Qdrant's own BM25 encoder (shipped in qdrant-edge-py) so the server and embedded stores score alike."""

from __future__ import annotations

from dataclasses import dataclass

import qdrant_edge


@dataclass(frozen=True)
class SparseVector:
    indices: list[int]
    values: list[float]


@dataclass(frozen=True)
class Bm25Settings:
    k1: float = 1.2
    b: float = 0.75
    avg_len: float = 256.0
    language: str = "english"


class Bm25Encoder:
    def __init__(self, settings: Bm25Settings | None = None):
        self.settings = settings or Bm25Settings()
        self._model = qdrant_edge.Bm25(
            qdrant_edge.Bm25Config(
                k=self.settings.k1,
                b=self.settings.b,
                avg_len=self.settings.avg_len,
                language=self.settings.language,
            )
        )

    def encode_document(self, text: str) -> SparseVector:
        vector = self._model.embed_document(text)
        return SparseVector(list(vector.indices), list(vector.values))

    def encode_query(self, text: str) -> SparseVector:
        vector = self._model.embed_query(text)
        return SparseVector(list(vector.indices), list(vector.values))
