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

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from twin_common.settings import LOCAL_REDIS_PORT

from twin_embedder.author_ledger import RedisAuthorLedger
from twin_embedder.features import AuthorFeatures, DocumentFeatures

TIMESTAMP = "datetime64[us, UTC]"
DOCUMENT_COLUMNS = {
    "document_id": "string",
    "tenant_id": "string",
    "author_id": "string",
    "kind": "string",
    "chunk_count": "int64",
    "token_count": "int64",
    "language": "string",
    "mean_sentence_words": "float64",
    "type_token_ratio": "float64",
    "deleted": "bool",
    "source_lsn": "Int64",
    "updated_at": TIMESTAMP,
    "event_timestamp": TIMESTAMP,
}
AUTHOR_COLUMNS = {
    "author_id": "string",
    "tenant_id": "string",
    "document_count": "int64",
    "token_count": "int64",
    "mean_document_tokens": "float64",
    "mean_sentence_words": "float64",
    "type_token_ratio": "float64",
    "event_timestamp": TIMESTAMP,
}
OFFLINE_FILES = {"document_stats.parquet": DOCUMENT_COLUMNS, "author_stats.parquet": AUTHOR_COLUMNS}


def _pushed_view(name: str, entity, columns: dict[str, str], data_dir: Path) -> list:
    """A feature view fed by a push source whose offline copy is data_dir/<name>.parquet; its schema is the
    offline columns minus the join key and the event timestamp."""
    from feast import FeatureView, Field, FileSource, PushSource
    from feast.types import Bool, Float64, Int64, String, UnixTimestamp

    feast_types = {
        "string": String,
        "int64": Int64,
        "Int64": Int64,
        "float64": Float64,
        "bool": Bool,
        TIMESTAMP: UnixTimestamp,
    }
    batch = FileSource(name=f"{name}_file", path=str(data_dir / f"{name}.parquet"), timestamp_field="event_timestamp")
    push = PushSource(name=f"{name}_push", batch_source=batch)
    features = [
        Field(name=column, dtype=feast_types[dtype])
        for column, dtype in columns.items()
        if column not in (entity.join_key, "event_timestamp")
    ]
    view = FeatureView(
        name=name, entities=[entity], ttl=timedelta(days=3650), source=push, online=True, schema=features
    )
    return [batch, push, view]


def definitions(data_dir: Path) -> list:
    from feast import Entity, ValueType

    document = Entity(
        name="document", join_keys=["document_id"], value_type=ValueType.STRING, description="a row of public.documents"
    )
    author = Entity(
        name="author", join_keys=["author_id"], value_type=ValueType.STRING, description="a row of public.authors"
    )
    return [
        document,
        author,
        *_pushed_view("document_stats", document, DOCUMENT_COLUMNS, data_dir),
        *_pushed_view("author_stats", author, AUTHOR_COLUMNS, data_dir),
    ]


def ensure_offline_file(path: Path, columns: dict[str, str]) -> None:
    """Create the offline file, or give an older one the columns added since (empty): Feast checks pushed frames
    against the file's columns and would refuse every push otherwise."""
    import pyarrow.parquet as pq

    if not path.exists():
        pd.DataFrame({k: pd.Series(dtype=v) for k, v in columns.items()}).to_parquet(path)
        return
    missing = [c for c in columns if c not in pq.read_schema(path).names]
    if missing:
        frame = pd.read_parquet(path)
        for column in missing:
            frame[column] = pd.Series([None] * len(frame), index=frame.index, dtype=columns[column])
        frame[list(columns)].to_parquet(path)


def bounded_redis_retry():
    """One quick retry of a failed Redis call (a pooled connection that went stale across a Redis restart), then
    the error: redis-py's default (3 retries, backoff up to 10 s) made a call against a dead Redis take ~8 s."""
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    return Retry(ExponentialBackoff(cap=0.5, base=0.1), 1)


def _bounded(redis: str, timeout_s: float | None) -> str:
    """Feast's Redis connection string with socket timeouts (Feast passes key=value options to redis-py)."""
    if timeout_s is None or "socket_timeout=" in redis:
        return redis
    return f"{redis},socket_timeout={timeout_s},socket_connect_timeout={timeout_s}"


def open_store(
    project: str, data_dir: Path, redis: str = f"127.0.0.1:{LOCAL_REDIS_PORT}", timeout_s: float | None = None
):
    """A FeatureStore for `project` (registry and offline files under data_dir, online store in Redis). With
    `timeout_s`, every online-store call is bounded: socket timeouts of `timeout_s` and one quick retry."""
    from feast import FeatureStore, RepoConfig
    from feast.infra.offline_stores.dask import DaskOfflineStoreConfig
    from feast.infra.online_stores.redis import RedisOnlineStoreConfig

    data_dir.mkdir(parents=True, exist_ok=True)
    for name, columns in OFFLINE_FILES.items():
        ensure_offline_file(data_dir / name, columns)
    config = RepoConfig(
        project=project,
        provider="local",
        registry=str(data_dir / "registry.db"),
        online_store=RedisOnlineStoreConfig(connection_string=_bounded(redis, timeout_s)),
        offline_store=DaskOfflineStoreConfig(),
        repo_path=str(data_dir),
        entity_key_serialization_version=3,
    )
    store = FeatureStore(config=config)
    store.apply(definitions(data_dir))
    if timeout_s is not None:
        online = store._get_provider().online_store  # noqa: SLF001 - Feast keeps its Redis client there
        online._get_client(config.online_store).set_retry(bounded_redis_retry())  # noqa: SLF001
    return store


def open_ledger(
    project: str, redis: str = f"127.0.0.1:{LOCAL_REDIS_PORT}", timeout_s: float | None = None
) -> RedisAuthorLedger:
    import redis as redis_lib

    options = {}
    if timeout_s is not None:
        options = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s, "retry": bounded_redis_retry()}
    client = redis_lib.Redis.from_url(f"redis://{redis}", **options)
    return RedisAuthorLedger(client, namespace=f"twin-feast:{project}")


def document_frame(features: list[DocumentFeatures], now: datetime | None = None) -> pd.DataFrame:
    now = now or datetime.now(UTC)
    return pd.DataFrame(
        [
            {
                "document_id": f.document_id,
                "tenant_id": f.tenant_id,
                "author_id": f.author_id,
                "kind": f.kind or "",
                "chunk_count": f.chunk_count,
                "token_count": f.token_count,
                "language": f.language or "",
                "mean_sentence_words": f.style.mean_sentence_words,
                "type_token_ratio": f.style.type_token_ratio,
                "deleted": f.deleted,
                "source_lsn": f.source_lsn,
                "updated_at": f.updated_at or now,
                "event_timestamp": f.event_time or now,
            }
            for f in features
        ],
        columns=list(DOCUMENT_COLUMNS),
    ).astype(DOCUMENT_COLUMNS)


def author_frame(features: list[AuthorFeatures]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "author_id": a.author_id,
                "tenant_id": a.tenant_id,
                "document_count": a.document_count,
                "token_count": a.token_count,
                "mean_document_tokens": a.mean_document_tokens,
                "mean_sentence_words": a.mean_sentence_words,
                "type_token_ratio": a.type_token_ratio,
                "event_timestamp": a.as_of,
            }
            for a in features
        ],
        columns=list(AUTHOR_COLUMNS),
    ).astype(AUTHOR_COLUMNS)


class FeastFeatureSink:
    def __init__(self, store, ledger: RedisAuthorLedger | None = None):
        self.store = store
        self.ledger = ledger

    def push(self, features: list[DocumentFeatures]) -> None:
        from feast.data_source import PushMode

        if not features:
            return
        features = self._ordered_after_stored(features)
        self.store.push("document_stats_push", document_frame(features), to=PushMode.ONLINE_AND_OFFLINE)
        if self.ledger is not None:
            authors = self.ledger.apply(features)
            if authors:
                self.store.push("author_stats_push", author_frame(authors), to=PushMode.ONLINE_AND_OFFLINE)

    def _ordered_after_stored(self, features: list[DocumentFeatures]) -> list[DocumentFeatures]:
        """The online store keeps a row only when its event time is newer than the stored one. Changes of one
        commit share its time, so when a commit's changes of a document arrive in two pushes the later change
        would be dropped as a tie. The WAL position orders a row's changes exactly: a change with a higher LSN
        than the stored row but no later time gets the stored time plus one microsecond (a replay of an older
        change, lower LSN, is still dropped)."""
        ordered = [i for i, f in enumerate(features) if f.source_lsn is not None and f.event_time is not None]
        if not ordered:
            return features
        response = self.store.get_online_features(
            features=["document_stats:source_lsn"],
            entity_rows=[{"document_id": features[i].document_id} for i in ordered],
        )
        names = list(response.proto.metadata.feature_names.val)
        stored = response.proto.results[names.index("source_lsn")]
        result = list(features)
        for i, value, stamp in zip(ordered, stored.values, stored.event_timestamps, strict=True):
            f = features[i]
            if not value.HasField("int64_val") or f.source_lsn <= value.int64_val:
                continue
            stored_time = stamp.ToDatetime(tzinfo=UTC)
            if f.event_time <= stored_time:
                result[i] = replace(f, committed_at=stored_time + timedelta(microseconds=1))
        return result
