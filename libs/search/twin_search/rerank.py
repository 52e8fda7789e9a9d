"""Reranking: a cross-encoder scores (query, passage) pairs. With no reranker the stage is skipped, not faked."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class Reranker(Protocol):
    name: str

    def score(self, query: str, passages: list[str]) -> list[float]: ...


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder loaded from a local directory (e.g. downloaded from MLflow)."""

    def __init__(self, model_dir: Path | str, batch_size: int = 32, max_length: int = 256):
        from sentence_transformers import CrossEncoder

        self.name = Path(model_dir).name
        self.model = CrossEncoder(str(model_dir), device="cpu", max_length=max_length)
        self.batch_size = batch_size

    def score(self, query: str, passages: list[str]) -> list[float]:
        if not passages:
            return []
        scores = self.model.predict([(query, p) for p in passages], batch_size=self.batch_size, show_progress_bar=False)
        return [float(s) for s in scores]
