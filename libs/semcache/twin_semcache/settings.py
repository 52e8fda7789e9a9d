"""The answer cache's settings (env prefix TWIN_SEMCACHE_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from twin_common.settings import KafkaSettings, RedisSettings, local_env_file
from twin_common.topics import DOCUMENTS_INDEXED


class CacheSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TWIN_SEMCACHE_", extra="ignore", env_file=local_env_file())

    enabled: bool = True  # False: the gateway's cache stages are left out
    disabled_tenants: tuple[str, ...] = ()  # tenants whose requests never use the cache
    redis: RedisSettings = Field(default_factory=RedisSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    namespace: str = "twin:cache"  # Redis key prefix of every entry, index and bookkeeping key
    semantic: bool = True  # False: exact cache only
    # Cosine similarity at or above which an earlier question counts as the same one (chosen on the tune split
    # of the paraphrase set; docs/cache.md has the sweep), and the look-alike guard that refuses a hit whose
    # numbers, dates, negation, names or identifiers differ from the question's.
    similarity_threshold: float = 0.86
    lookalike_guard: bool = True
    candidates: int = 3  # nearest cached questions examined per lookup (the first that passes the guard wins)
    ttl_s: int = 24 * 3600  # every entry expires this long after it was stored (not extended by hits)
    max_entries_per_tenant: int = 10_000  # oldest entries are evicted past this
    # Invalidation: the consumer of DocumentIndexed events
    topic: str = DOCUMENTS_INDEXED
    group_id: str = "twin-semcache-invalidator"
