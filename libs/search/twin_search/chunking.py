"""Chunking by document kind, measured in the embedding model's tokens.

Text is split into units (sentences for prose, syntax blocks for code), and units are packed greedily into
chunks up to the kind's size, with the tail of one chunk repeated at the head of the next as overlap. No
chunk ever exceeds the model's token limit: a unit longer than the limit is cut on word boundaries.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict
from twin_common.documents import DocumentKind, DocumentRow

from twin_search.cleaning import clean_text

TokenCounter = Callable[[str], int]
POINT_NAMESPACE = uuid.UUID("9b0f8a52-3c1d-4c7e-9a55-0c3f1d2e7b61")

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n{2,}")
_CODE_BOUNDARY = re.compile(r"\n\s*\n|\n(?=(?:async\s+def|def|class|func|fn|function|public|private|impl|struct)\b)")


@dataclass(frozen=True)
class KindLimits:
    """Size and overlap of one kind's chunks; `unit` says how text is split before packing."""

    max_tokens: int
    overlap_tokens: int
    max_chars: int | None = None
    min_chars: int = 0
    unit: str = "sentence"  # or "code"


@dataclass(frozen=True)
class ChunkingSettings:
    """Defaults from the references: posts 250/25 tokens, articles 1000-2000 characters on sentence
    boundaries, code 1500/100 characters on syntax boundaries; always within the model's token limit."""

    model_max_tokens: int = 256
    special_tokens: int = 2  # [CLS] and [SEP] take two of the model's positions
    limits: dict[DocumentKind, KindLimits] = field(
        default_factory=lambda: {
            DocumentKind.POST: KindLimits(max_tokens=250, overlap_tokens=25),
            DocumentKind.ARTICLE: KindLimits(max_tokens=254, overlap_tokens=32, max_chars=2000, min_chars=1000),
            DocumentKind.NOTE: KindLimits(max_tokens=254, overlap_tokens=32, max_chars=2000, min_chars=1000),
            DocumentKind.REPOSITORY: KindLimits(max_tokens=254, overlap_tokens=24, max_chars=1500, unit="code"),
        }
    )

    @property
    def token_budget(self) -> int:
        return self.model_max_tokens - self.special_tokens


class Chunk(BaseModel):
    """One search-ready piece of a document, with everything a citation and a filter need."""

    model_config = ConfigDict(frozen=True)

    chunk_id: str
    document_id: str
    tenant_id: str
    author_id: str
    kind: DocumentKind
    title: str
    url: str | None
    tags: list[str]
    position: int
    text: str
    content_hash: str
    token_count: int
    embedding_model: str
    embedding_model_version: str

    def payload(self) -> dict:
        return self.model_dump(mode="json")


def point_id(document_id: str, position: int, model: str) -> str:
    """Deterministic point id: the same chunk of the same document under the same model is the same point."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{document_id}:{position}:{model}"))


class Chunker:
    def __init__(
        self, count_tokens: TokenCounter, model_name: str, model_version: str, settings: ChunkingSettings | None = None
    ):
        self.count_tokens = count_tokens
        self.model_name = model_name
        self.model_version = model_version
        self.settings = settings or ChunkingSettings()

    def chunk(self, doc: DocumentRow, cleaned: str | None = None) -> list[Chunk]:
        """The document's chunks; `cleaned`: clean_text(doc.content, doc.kind) when the caller already has it."""
        text = clean_text(doc.content, doc.kind) if cleaned is None else cleaned
        if doc.title and doc.kind is not DocumentKind.REPOSITORY and not text.startswith(doc.title):
            text = f"{doc.title}\n{text}" if text else doc.title
        pieces = self.split(text, doc.kind)
        return [
            Chunk(
                chunk_id=point_id(doc.id, position, self.model_name),
                document_id=doc.id,
                tenant_id=doc.tenant_id,
                author_id=doc.author_id,
                kind=doc.kind,
                title=doc.title,
                url=doc.url,
                tags=doc.tags,
                position=position,
                text=piece,
                content_hash=doc.content_hash,
                token_count=self.count_tokens(piece),
                embedding_model=self.model_name,
                embedding_model_version=self.model_version,
            )
            for position, piece in enumerate(pieces)
        ]

    def split(self, text: str, kind: DocumentKind) -> list[str]:
        """The chunk texts of an already cleaned text."""
        limits = self.settings.limits[kind]
        max_tokens = min(limits.max_tokens, self.settings.token_budget)
        units = self._units(text, limits.unit, max_tokens)
        joiner = "\n" if limits.unit == "code" else " "
        chunks: list[str] = []
        current: list[tuple[str, int]] = []
        for unit, tokens in units:
            size = sum(t for _, t in current) + tokens
            chars = sum(len(u) + 1 for u, _ in current) + len(unit)
            too_many_chars = limits.max_chars is not None and chars > limits.max_chars
            if current and (size > max_tokens or too_many_chars):
                chunks.append(joiner.join(u for u, _ in current))
                current = self._overlap(current, limits.overlap_tokens, max_tokens - tokens)
            current.append((unit, tokens))
        if current:
            tail = joiner.join(u for u, _ in current)
            if chunks and len(tail) < limits.min_chars // 4 and self._fits(chunks[-1], tail, joiner, max_tokens):
                chunks[-1] = f"{chunks[-1]}{joiner}{tail}"  # fold a tiny remainder into the previous chunk
            else:
                chunks.append(tail)
        for chunk in chunks:
            assert self.count_tokens(chunk) <= self.settings.token_budget, "chunk above the model's token limit"
        return chunks

    def _fits(self, head: str, tail: str, joiner: str, max_tokens: int) -> bool:
        return self.count_tokens(f"{head}{joiner}{tail}") <= max_tokens

    @staticmethod
    def _overlap(units: list[tuple[str, int]], overlap_tokens: int, room: int) -> list[tuple[str, int]]:
        kept: list[tuple[str, int]] = []
        total = 0
        for unit, tokens in reversed(units):
            if total + tokens > min(overlap_tokens, room):
                break
            kept.insert(0, (unit, tokens))
            total += tokens
        return kept

    def _units(self, text: str, unit: str, max_tokens: int) -> list[tuple[str, int]]:
        splitter = _CODE_BOUNDARY if unit == "code" else _SENTENCE_END
        out: list[tuple[str, int]] = []
        for raw in splitter.split(text):
            piece = raw.strip("\n") if unit == "code" else " ".join(raw.split())
            if not piece.strip():
                continue
            tokens = self.count_tokens(piece)
            if tokens <= max_tokens:
                out.append((piece, tokens))
            else:
                out.extend(self._cut_words(piece, max_tokens))
        return out

    def _cut_words(self, text: str, max_tokens: int) -> list[tuple[str, int]]:
        """Cut an over-long unit on word boundaries (binary search on the word count)."""
        words, out = text.split(" "), []
        while words:
            lo, hi = 1, len(words)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self.count_tokens(" ".join(words[:mid])) <= max_tokens:
                    lo = mid
                else:
                    hi = mid - 1
            piece = " ".join(words[:lo])
            if lo == 1 and self.count_tokens(piece) > max_tokens:  # one "word" alone is too long: cut its characters
                keep = len(piece)
                while keep > 1 and self.count_tokens(piece[:keep]) > max_tokens:
                    keep //= 2
                words = [piece[keep:], *words[1:]]
                piece = piece[:keep]
            else:
                words = words[lo:]
            out.append((piece, self.count_tokens(piece)))
        return out
