"""Settings of the embedder service (environment variables TWIN_*, like every service; defaults fit the local stack)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from twin_common.settings import (
    LOCAL_EMBEDDER_PORT,
    LOCAL_INFERENCE_PORT,
    LOCAL_REDIS_PORT,
    InternalAuthSettings,
    KafkaSettings,
    ServiceSettings,
    repo_root,
)
from twin_common.topics import CDC_DOCUMENTS, DOCUMENTS_INDEXED


class EmbedderSettings(ServiceSettings):
    service_name: str = "twin-embedder"
    http_port: int = LOCAL_EMBEDDER_PORT
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    auth: InternalAuthSettings = Field(default_factory=InternalAuthSettings)  # TWIN_SERVICE_TOKEN, for /v1/*

    # What it reads and writes.
    topic: str = CDC_DOCUMENTS
    group_id: str = "twin-embedder"
    indexed_topic: str = DOCUMENTS_INDEXED
    dead_letter_topic: str | None = None  # default: twin_common.topics.dead_letter_topic(topic)

    # Consumption: a batch subscriber, short fetch waits for freshness.
    max_records: int = 256
    batch_timeout_ms: int = 20
    fetch_max_wait_ms: int = 10
    lag_interval_s: float = 2.0

    # A dependency that fails or hangs: every call is bounded (Redis and Qdrant by dependency_timeout_s, the
    # inference service by inference_timeout_s per call, Kafka writes and commits by kafka_timeout_s); the batch
    # is retried after backoff_s, doubling (with jitter) up to backoff_max_s, and handed back to Kafka after
    # hold_batch_s (keep it below the consumer's max.poll.interval, 300 s) to come again. Never dead-lettered.
    dependency_timeout_s: float = 5.0
    inference_timeout_s: float = 30.0
    inference_rows_per_call: int = 32
    kafka_timeout_s: float = 15.0
    backoff_s: float = 0.5
    backoff_max_s: float = 10.0
    hold_batch_s: float = 60.0

    # Where chunks go: an embedded Qdrant edge store (one process per path) or a Qdrant server.
    store_path: Path = Field(default_factory=lambda: repo_root() / ".local" / "embedder" / "store")
    qdrant_url: str | None = None

    # Optional Feast sink: document features pushed online + offline on every change (off when no project).
    feast_project: str | None = None
    feast_data_dir: Path = Field(default_factory=lambda: repo_root() / ".local" / "embedder" / "feast")
    feast_redis: str = f"127.0.0.1:{LOCAL_REDIS_PORT}"

    # Which embedder: MiniLM in process, or the inference service over the V2 protocol.
    embedder: Literal["local", "remote"] = "local"
    inference_url: str = (
        f"127.0.0.1:{LOCAL_INFERENCE_PORT}"  # twin-inference REST (gRPC port with inference_protocol=grpc)
    )
    inference_protocol: Literal["http", "grpc"] = "http"
