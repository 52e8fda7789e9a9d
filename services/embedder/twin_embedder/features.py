"""Per-document and per-author features computed by the pipeline, and the sinks they are pushed to.

Document features come from one change (chunk and token counts, language, style statistics). Author features
aggregate the author's current documents; they are computed from a ledger of per-document statistics
(`author_ledger`), never by incrementing counters, so replays and redeliveries cannot skew them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)|\n\s*\n")
TTR_WINDOW = 100  # words per window of the type-token ratio: the plain ratio falls with length, this does not


@dataclass(frozen=True)
class StyleStats:
    """How a text is written: length of its sentences and richness of its vocabulary."""

    words: int = 0
    sentences: int = 0
    mean_sentence_words: float = 0.0
    type_token_ratio: float = 0.0  # mean over consecutive windows of TTR_WINDOW words (or the whole text if shorter)

    @classmethod
    def of(cls, text: str) -> StyleStats:
        words = [w.lower() for w in _WORD.findall(text)]
        if not words:
            return cls()
        sentences = [s for s in _SENTENCE_END.split(text) if _WORD.search(s)]
        n_sentences = max(1, len(sentences))
        windows = [words[i : i + TTR_WINDOW] for i in range(0, len(words), TTR_WINDOW)]
        if len(windows) > 1 and len(windows[-1]) < TTR_WINDOW:
            windows.pop()  # a short tail window would inflate the ratio
        ttr = sum(len(set(w)) / len(w) for w in windows) / len(windows)
        return cls(len(words), n_sentences, len(words) / n_sentences, ttr)


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
    kind: str | None = None
    style: StyleStats = StyleStats()
    committed_at: datetime | None = None  # commit time of the change in PostgreSQL (Debezium source.ts_us)
    source_lsn: int | None = None  # WAL position of the change: orders the changes of one commit

    @property
    def event_time(self) -> datetime | None:
        """When this version became true: the commit time, else the row's updated_at."""
        return self.committed_at or self.updated_at


@dataclass(frozen=True)
class AuthorFeatures:
    tenant_id: str
    author_id: str
    document_count: int
    token_count: int
    mean_document_tokens: float
    mean_sentence_words: float  # over all the author's sentences
    type_token_ratio: float  # mean over the author's documents, weighted by their words
    as_of: datetime

    @classmethod
    def aggregate(
        cls, tenant_id: str, author_id: str, documents: list[DocumentFeatures], as_of: datetime
    ) -> AuthorFeatures:
        live = [d for d in documents if not d.deleted]
        tokens = sum(d.token_count for d in live)
        words = sum(d.style.words for d in live)
        sentences = sum(d.style.sentences for d in live)
        ttr = sum(d.style.type_token_ratio * d.style.words for d in live) / words if words else 0.0
        return cls(
            tenant_id,
            author_id,
            len(live),
            tokens,
            tokens / len(live) if live else 0.0,
            words / sentences if sentences else 0.0,
            ttr,
            as_of,
        )


class FeatureSink(Protocol):
    def push(self, features: list[DocumentFeatures]) -> None: ...


class NullFeatureSink:
    """The default sink: features are computed but kept nowhere (no Feast project configured)."""

    def push(self, features: list[DocumentFeatures]) -> None:
        return None
