import os
import uuid

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def embedder():
    from twin_search.embedding import LocalEmbedder

    return LocalEmbedder()


@pytest.fixture
def make_cache(embedder):
    """An AnswerCache in a namespace of its own (its index dropped afterwards)."""
    from twin_semcache.cache import AnswerCache, minilm_embed
    from twin_semcache.settings import CacheSettings

    made = []

    def make(**settings):
        namespace = f"twin:cache-test:{uuid.uuid4().hex[:8]}"
        cache = AnswerCache(CacheSettings(namespace=namespace, **settings), embed=minilm_embed(embedder))
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache.semantic.delete()  # the index and its entries
        for key in cache.client.scan_iter(f"{cache.ns}:*"):
            cache.client.delete(key)
