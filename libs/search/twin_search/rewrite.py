"""Query rewriting: expansion into variants (from an LLM callable) and self-query filters.

Self-query only narrows a filter with kinds/tags named in the query; identity and tenant filters never come
from the query or a model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace

from twin_common.documents import DocumentKind

from twin_search.vectorstore.base import SearchFilter

QueryExpander = Callable[[str, int], list[str]]

_KIND_WORDS = {
    DocumentKind.ARTICLE: ("article", "articles", "blog post", "essay"),
    DocumentKind.POST: ("post", "posts", "tweet", "tweets", "linkedin"),
    DocumentKind.REPOSITORY: ("code", "repository", "repo", "source code"),
    DocumentKind.NOTE: ("note", "notes"),
}


def self_query(query: str, flt: SearchFilter, known_tags: Iterable[str] = ()) -> SearchFilter:
    """The filter narrowed by the kinds and known tags that the query names (tenant and authors untouched)."""
    text = f" {query.lower()} "
    kinds = tuple(
        k.value for k, words in _KIND_WORDS.items() if any(re.search(rf"\b{re.escape(w)}\b", text) for w in words)
    )
    tags = tuple(t for t in known_tags if re.search(rf"(?<![\w-]){re.escape(t.lower())}(?![\w-])", text))
    return replace(flt, kinds=flt.kinds or kinds, tags=flt.tags or tags)


def expand(query: str, expander: QueryExpander | None, n: int) -> list[str]:
    """The original query first, then up to n distinct variants from the expander."""
    variants = [query]
    if expander is None or n <= 0:
        return variants
    for variant in expander(query, n):
        variant = " ".join(variant.split())
        if variant and variant.lower() not in {v.lower() for v in variants}:
            variants.append(variant)
        if len(variants) == n + 1:
            break
    return variants


_NUMBERING = re.compile(r"^\s*(?:[-*\u2022]|\d+[.):]|query\s*\d*\s*:)\s*", re.IGNORECASE)
EXPANSION_PROMPT = (
    "Rewrite the search query below in {n} different ways, using other words a document might use. "
    "Answer with one query per line, nothing else.\n\nQuery: {query}"
)


class LlmQueryExpander:
    """A QueryExpander from a chat model: `generate(messages) -> text`, one variant per line of the answer.

    Variants are search text only; filters never come from here.
    """

    def __init__(self, generate: Callable[[list[dict]], str], max_chars: int = 300):
        self.generate = generate
        self.max_chars = max_chars

    def __call__(self, query: str, n: int) -> list[str]:
        answer = self.generate([{"role": "user", "content": EXPANSION_PROMPT.format(n=n, query=query)}])
        variants = []
        for line in answer.splitlines():
            line = _NUMBERING.sub("", line).strip().strip('"').strip()
            if line and len(line) <= self.max_chars:
                variants.append(line)
        return variants[:n]

    @classmethod
    def from_inference(cls, url: str, protocol: str = "http", max_tokens: int = 96) -> LlmQueryExpander:
        """Variants from the inference service's twin-llm (greedy, so a query always expands the same way)."""
        from twin_inference_client import GenerationParams, InferenceClient

        client = InferenceClient(url, protocol)
        params = GenerationParams(max_tokens=max_tokens, temperature=0.0)
        return cls(lambda messages: client.generate(messages=messages, params=params).text)
