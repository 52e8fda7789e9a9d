"""Context for generation: the best chunks that fit a token budget, each with its citation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from twin_search.vectorstore.base import ScoredChunk


@dataclass(frozen=True)
class Citation:
    document_id: str
    title: str
    url: str | None
    position: int
    score: float


@dataclass(frozen=True)
class Context:
    text: str
    citations: list[Citation]
    tokens: int


def build_context(
    hits: Sequence[ScoredChunk], count_tokens: Callable[[str], int], token_budget: int, top_k: int
) -> Context:
    """Numbered passages `[n] title\\ntext`, in rank order, stopping before the budget would be exceeded."""
    parts, citations, used = [], [], 0
    for hit in hits:
        if len(citations) == top_k:
            break
        payload = hit.payload
        block = f"[{len(citations) + 1}] {payload.get('title') or ''}\n{payload['text']}"
        tokens = count_tokens(block)
        if used + tokens > token_budget:
            continue  # a smaller later chunk may still fit
        parts.append(block)
        used += tokens
        citations.append(
            Citation(
                payload["document_id"],
                payload.get("title") or "",
                payload.get("url"),
                int(payload.get("position", 0)),
                hit.score,
            )
        )
    return Context("\n\n".join(parts), citations, used)
