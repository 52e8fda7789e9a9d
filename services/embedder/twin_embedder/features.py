"""Per-document features computed by the pipeline, and the sinks they are pushed to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class DocumentFeatures:
    tenant_id: str
    document_id: str
    author_id: str
    chunk_count: int
    token_count: int
    language: str | None
    updated_at: datetime | None
    deleted: bool = False


class FeatureSink(Protocol):
    def push(self, features: list[DocumentFeatures]) -> None: ...


class NullFeatureSink:
    """The default sink: features are computed but kept nowhere (Feast is not wired yet)."""

    def push(self, features: list[DocumentFeatures]) -> None:
        return None
