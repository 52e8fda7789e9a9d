"""Optional Feast sink: document and author features pushed (online + offline) on every change.

Definitions live in feature_repo/ (what `feast apply` reads); `open_store` builds the same objects
programmatically for a given project, so services and tests can use a project of their own.

- `document_stats` (entity document): chunk and token counts, language, kind, style statistics and a `deleted`
  flag. A delete is pushed as a row with deleted=true and zero counts at the commit time of the delete, so
  online reads see the document gone and point-in-time reads still see it before that time.
- `author_stats` (entity author): document count, tokens, mean tokens per document, mean sentence length and
  type-token ratio over the author's live documents, aggregated by the author ledger (Redis).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from twin_embedder.author_ledger import RedisAuthorLedger
from twin_embedder.features import AuthorFeatures, DocumentFeatures

TIMESTAMP = "datetime64[us, UTC]"
DOCUMENT_COLUMNS = {"document_id": "string", "tenant_id": "string", "author_id": "string", "kind": "string",
                    "chunk_count": "int64", "token_count": "int64", "language": "string",
                    "mean_sentence_words": "float64", "type_token_ratio": "float64", "deleted": "bool",
                    "updated_at": TIMESTAMP, "event_timestamp": TIMESTAMP}
AUTHOR_COLUMNS = {"author_id": "string", "tenant_id": "string", "document_count": "int64", "token_count": "int64",
                  "mean_document_tokens": "float64", "mean_sentence_words": "float64",
                  "type_token_ratio": "float64", "event_timestamp": TIMESTAMP}
OFFLINE_FILES = {"document_stats.parquet": DOCUMENT_COLUMNS, "author_stats.parquet": AUTHOR_COLUMNS}


def definitions(data_dir: Path) -> list:
    from feast import Entity, FeatureView, Field, FileSource, PushSource, ValueType
    from feast.types import Bool, Float64, Int64, String, UnixTimestamp

    document = Entity(name="document", join_keys=["document_id"], value_type=ValueType.STRING,
                      description="a row of public.documents")
    author = Entity(name="author", join_keys=["author_id"], value_type=ValueType.STRING,
                    description="a row of public.authors")
    document_file = FileSource(name="document_stats_file", path=str(data_dir / "document_stats.parquet"),
                               timestamp_field="event_timestamp")
    document_push = PushSource(name="document_stats_push", batch_source=document_file)
    document_stats = FeatureView(
        name="document_stats", entities=[document], ttl=timedelta(days=3650), source=document_push, online=True,
        schema=[Field(name="tenant_id", dtype=String), Field(name="author_id", dtype=String),
                Field(name="kind", dtype=String), Field(name="chunk_count", dtype=Int64),
                Field(name="token_count", dtype=Int64), Field(name="language", dtype=String),
                Field(name="mean_sentence_words", dtype=Float64), Field(name="type_token_ratio", dtype=Float64),
                Field(name="deleted", dtype=Bool), Field(name="updated_at", dtype=UnixTimestamp)],
    )
    author_file = FileSource(name="author_stats_file", path=str(data_dir / "author_stats.parquet"),
                             timestamp_field="event_timestamp")
    author_push = PushSource(name="author_stats_push", batch_source=author_file)
    author_stats = FeatureView(
        name="author_stats", entities=[author], ttl=timedelta(days=3650), source=author_push, online=True,
        schema=[Field(name="tenant_id", dtype=String), Field(name="document_count", dtype=Int64),
                Field(name="token_count", dtype=Int64), Field(name="mean_document_tokens", dtype=Float64),
                Field(name="mean_sentence_words", dtype=Float64), Field(name="type_token_ratio", dtype=Float64)],
    )
    return [document, author, document_file, document_push, document_stats, author_file, author_push, author_stats]


def open_store(project: str, data_dir: Path, redis: str = "127.0.0.1:56379"):
    """A FeatureStore for `project` (registry and offline files under data_dir, online store in Redis)."""
    from feast import FeatureStore, RepoConfig
    from feast.infra.offline_stores.dask import DaskOfflineStoreConfig
    from feast.infra.online_stores.redis import RedisOnlineStoreConfig

    data_dir.mkdir(parents=True, exist_ok=True)
    for name, columns in OFFLINE_FILES.items():
        if not (data_dir / name).exists():
            pd.DataFrame({k: pd.Series(dtype=v) for k, v in columns.items()}).to_parquet(data_dir / name)
    config = RepoConfig(project=project, provider="local", registry=str(data_dir / "registry.db"),
                        online_store=RedisOnlineStoreConfig(connection_string=redis),
                        offline_store=DaskOfflineStoreConfig(), repo_path=str(data_dir),
                        entity_key_serialization_version=3)
    store = FeatureStore(config=config)
    store.apply(definitions(data_dir))
    return store


def open_ledger(project: str, redis: str = "127.0.0.1:56379") -> RedisAuthorLedger:
    import redis as redis_lib

    return RedisAuthorLedger(redis_lib.Redis.from_url(f"redis://{redis}"), namespace=f"twin-feast:{project}")


def document_frame(features: list[DocumentFeatures], now: datetime | None = None) -> pd.DataFrame:
    now = now or datetime.now(UTC)
    return pd.DataFrame([{
        "document_id": f.document_id, "tenant_id": f.tenant_id, "author_id": f.author_id, "kind": f.kind or "",
        "chunk_count": f.chunk_count, "token_count": f.token_count, "language": f.language or "",
        "mean_sentence_words": f.style.mean_sentence_words, "type_token_ratio": f.style.type_token_ratio,
        "deleted": f.deleted, "updated_at": f.updated_at or now, "event_timestamp": f.event_time or now,
    } for f in features], columns=list(DOCUMENT_COLUMNS)).astype(DOCUMENT_COLUMNS)


def author_frame(features: list[AuthorFeatures]) -> pd.DataFrame:
    return pd.DataFrame([{
        "author_id": a.author_id, "tenant_id": a.tenant_id, "document_count": a.document_count,
        "token_count": a.token_count, "mean_document_tokens": a.mean_document_tokens,
        "mean_sentence_words": a.mean_sentence_words, "type_token_ratio": a.type_token_ratio,
        "event_timestamp": a.as_of,
    } for a in features], columns=list(AUTHOR_COLUMNS)).astype(AUTHOR_COLUMNS)


class FeastFeatureSink:
    def __init__(self, store, ledger: RedisAuthorLedger | None = None):
        self.store = store
        self.ledger = ledger

    def push(self, features: list[DocumentFeatures]) -> None:
        from feast.data_source import PushMode

        if not features:
            return
        self.store.push("document_stats_push", document_frame(features), to=PushMode.ONLINE_AND_OFFLINE)
        if self.ledger is not None:
            authors = self.ledger.apply(features)
            if authors:
                self.store.push("author_stats_push", author_frame(authors), to=PushMode.ONLINE_AND_OFFLINE)
