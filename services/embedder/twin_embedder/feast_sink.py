"""Optional Feast sink: document features pushed (online + offline) on every change.

Definitions live in feature_repo/ (what `feast apply` reads); `open_store` builds the same objects
programmatically for a given project, so services and tests can use a project of their own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from twin_embedder.features import DocumentFeatures

DOCUMENT_COLUMNS = {"document_id": "string", "tenant_id": "string", "author_id": "string", "chunk_count": "int64",
                    "token_count": "int64", "language": "string", "updated_at": "datetime64[us, UTC]",
                    "event_timestamp": "datetime64[us, UTC]"}


def definitions(data_dir: Path) -> list:
    from feast import Entity, FeatureView, Field, FileSource, PushSource
    from feast.types import Int64, String, UnixTimestamp

    document = Entity(name="document", join_keys=["document_id"], description="a row of public.documents")
    author = Entity(name="author", join_keys=["author_id"], description="a row of public.authors")
    batch = FileSource(name="document_stats_file", path=str(data_dir / "document_stats.parquet"),
                       timestamp_field="event_timestamp")
    push = PushSource(name="document_stats_push", batch_source=batch)
    stats = FeatureView(
        name="document_stats", entities=[document], ttl=timedelta(days=3650), source=push, online=True,
        schema=[Field(name="tenant_id", dtype=String), Field(name="author_id", dtype=String),
                Field(name="chunk_count", dtype=Int64), Field(name="token_count", dtype=Int64),
                Field(name="language", dtype=String), Field(name="updated_at", dtype=UnixTimestamp)],
    )
    return [document, author, batch, push, stats]


def open_store(project: str, data_dir: Path, redis: str = "127.0.0.1:56379"):
    """A FeatureStore for `project` (registry and offline file under data_dir, online store in Redis)."""
    from feast import FeatureStore, RepoConfig
    from feast.infra.offline_stores.dask import DaskOfflineStoreConfig
    from feast.infra.online_stores.redis import RedisOnlineStoreConfig

    data_dir.mkdir(parents=True, exist_ok=True)
    offline = data_dir / "document_stats.parquet"
    if not offline.exists():
        pd.DataFrame({k: pd.Series(dtype=v) for k, v in DOCUMENT_COLUMNS.items()}).to_parquet(offline)
    config = RepoConfig(project=project, provider="local", registry=str(data_dir / "registry.db"),
                        online_store=RedisOnlineStoreConfig(connection_string=redis),
                        offline_store=DaskOfflineStoreConfig(), repo_path=str(data_dir),
                        entity_key_serialization_version=3)
    store = FeatureStore(config=config)
    store.apply(definitions(data_dir))
    return store


class FeastFeatureSink:
    def __init__(self, store):
        self.store = store

    def push(self, features: list[DocumentFeatures]) -> None:
        from feast.data_source import PushMode

        live = [f for f in features if not f.deleted]
        if not live:
            return
        now = datetime.now(UTC)
        frame = pd.DataFrame([{
            "document_id": f.document_id, "tenant_id": f.tenant_id, "author_id": f.author_id,
            "chunk_count": f.chunk_count, "token_count": f.token_count, "language": f.language or "",
            "updated_at": f.updated_at or now, "event_timestamp": f.updated_at or now,
        } for f in live]).astype(DOCUMENT_COLUMNS)
        self.store.push("document_stats_push", frame, to=PushMode.ONLINE_AND_OFFLINE)
