"""The vector-store contract every adapter fulfils (Qdrant server via qdrant-client; embedded Qdrant edge).

A store holds chunks with a dense vector (named "dense") and a BM25 sparse vector (named "bm25", IDF applied
by the store). Filters are applied inside the store; the tenant is mandatory in every search filter.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from twin_search.chunking import Chunk
from twin_search.sparse import SparseVector

DENSE = "dense"
SPARSE = "bm25"
# Payload fields with an index (filters and per-document deletes run on these).
INDEXED_KEYWORDS = ("tenant_id", "author_id", "kind", "tags", "document_id")


class FilterError(ValueError):
    """A search filter that would cross tenants or is otherwise malformed."""


@dataclass(frozen=True)
class SearchFilter:
    tenant_id: str
    author_ids: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.tenant_id or not isinstance(self.tenant_id, str):
            raise FilterError("a search filter needs the caller's tenant_id")

    def conditions(self) -> dict[str, tuple[str, ...]]:
        """Field -> accepted values; every field must match one of its values."""
        out = {"tenant_id": (self.tenant_id,)}
        if self.author_ids:
            out["author_id"] = tuple(self.author_ids)
        if self.kinds:
            out["kind"] = tuple(self.kinds)
        if self.tags:
            out["tags"] = tuple(self.tags)
        return out


@dataclass(frozen=True)
class IndexedChunk:
    chunk: Chunk
    dense: np.ndarray
    sparse: SparseVector


@dataclass(frozen=True)
class ScoredChunk:
    chunk_id: str
    score: float
    payload: dict = field(hash=False)

    @property
    def document_id(self) -> str:
        return self.payload["document_id"]


class VectorStore(ABC):
    @abstractmethod
    def ensure_collection(self, dimension: int) -> None: ...

    @abstractmethod
    def upsert(self, items: list[IndexedChunk]) -> None: ...

    @abstractmethod
    def delete_points(self, point_ids: list[str]) -> None: ...

    @abstractmethod
    def delete_document(self, tenant_id: str, document_id: str) -> None: ...

    @abstractmethod
    def document_point_ids(self, tenant_id: str, document_id: str) -> set[str]: ...

    @abstractmethod
    def search_dense(self, vector: np.ndarray, flt: SearchFilter, limit: int) -> list[ScoredChunk]: ...

    @abstractmethod
    def search_sparse(self, vector: SparseVector, flt: SearchFilter, limit: int) -> list[ScoredChunk]: ...

    @abstractmethod
    def retrieve(self, point_ids: list[str]) -> list[ScoredChunk]: ...

    @abstractmethod
    def count(self, flt: SearchFilter | None = None) -> int: ...

    def close(self) -> None:
        return None
