"""The stack's Redis is redis-stack-server with vector search: RediSearch and RedisJSON loaded, a KNN query over an
HNSW index answers, and plain keys, expiry and transactions (Feast, the author ledger, quotas) still work."""

from __future__ import annotations

import uuid

import numpy as np
import redis
from redis.commands.search.field import TagField, VectorField
from redis.commands.search.index_definition import IndexDefinition, IndexType
from redis.commands.search.query import Query
from twin_common.settings import RedisSettings


def test_redis_has_search_and_json_modules():
    client = redis.Redis.from_url(RedisSettings().url)
    modules = {m[b"name"].decode(): m[b"ver"] for m in client.module_list()}
    assert "search" in modules and modules["search"] >= 21000  # RediSearch 2.10: vector search
    assert "ReJSON" in modules
    assert client.info("server")["redis_version"].startswith("7.4")
    assert client.info("persistence")["aof_enabled"] == 1


def test_knn_query_over_an_hnsw_index_finds_the_nearest_vector():
    client = redis.Redis.from_url(RedisSettings().url)
    prefix = f"vtest:{uuid.uuid4().hex[:8]}:"
    index = prefix.rstrip(":")
    client.ft(index).create_index(
        [
            TagField("tenant"),
            VectorField("v", "HNSW", {"TYPE": "FLOAT32", "DIM": 8, "DISTANCE_METRIC": "COSINE"}),
        ],
        definition=IndexDefinition(prefix=[prefix], index_type=IndexType.HASH),
    )
    try:
        rng = np.random.default_rng(7)
        vectors = rng.normal(size=(50, 8)).astype(np.float32)
        for i, vector in enumerate(vectors):
            client.hset(f"{prefix}{i}", mapping={"tenant": "a" if i % 2 else "b", "v": vector.tobytes()})
        probe = vectors[17] + np.float32(0.01)
        query = (
            Query("(@tenant:{a})=>[KNN 3 @v $q AS d]").sort_by("d").return_fields("d", "tenant").dialect(2).paging(0, 3)
        )
        result = client.ft(index).search(query, query_params={"q": probe.astype(np.float32).tobytes()})
        assert result.docs[0].id == f"{prefix}17"
        assert all(doc.tenant == "a" for doc in result.docs)  # the tag filter holds inside the KNN
    finally:
        client.ft(index).dropindex(delete_documents=True)
