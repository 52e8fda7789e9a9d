"""What importers produce and what an import run reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from twin_common.documents import DocumentKind


class RejectReason(StrEnum):
    TOO_LARGE = "too_large"
    EMPTY = "empty"
    BINARY = "binary"
    BAD_ENCODING = "bad_encoding"
    INVALID = "invalid"  # a record that is not a document (bad JSON, missing or wrong fields)
    FETCH_FAILED = "fetch_failed"
    UNSUPPORTED = "unsupported"  # a file type no importer reads
    STORE_FAILED = "store_failed"


@dataclass(frozen=True)
class SourceDocument:
    """One document as an importer found it, before it gets its tenant, author and hash."""

    kind: DocumentKind
    external_id: str
    content: str
    title: str = ""
    url: str | None = None
    language: str | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejection:
    external_id: str
    reason: RejectReason
    detail: str


class Outcome(StrEnum):
    STORED = "stored"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass
class ImportReport:
    stored: int = 0
    updated: int = 0
    unchanged: int = 0
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejections)

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "rejections": [
                {"external_id": r.external_id, "reason": r.reason.value, "detail": r.detail} for r in self.rejections
            ],
        }
