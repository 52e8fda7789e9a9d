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
    kinds = tuple(k.value for k, words in _KIND_WORDS.items() if any(re.search(rf"\b{re.escape(w)}\b", text)
                                                                        for w in words))
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
