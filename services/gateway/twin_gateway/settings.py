"""Settings of the gateway service (environment variables TWIN_*; defaults fit the local stack).

One object for the service (GatewaySettings); each part with its own concern keeps its own nested settings
class with its own prefix (keys, quotas, RAG, request log), so a stage module reads only what it owns.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from twin_common.settings import (
    LOCAL_GATEWAY_GRPC_PORT,
    LOCAL_GATEWAY_PORT,
    LOCAL_INFERENCE_GRPC_PORT,
    LOCAL_INGEST_PORT,
    InternalAuthSettings,
    KafkaSettings,
    PostgresSettings,
    RedisSettings,
    ServiceSettings,
    local_env_file,
    repo_root,
)
from twin_common.topics import FEEDBACK, REQUESTS


def _config(env_prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=env_prefix, extra="ignore", env_file=local_env_file())


class KeySettings(BaseSettings):
    """API keys: stored as HMAC-SHA256(pepper, secret) in PostgreSQL (table api_keys, migration 0002)."""

    model_config = _config("TWIN_KEYS_")

    # The pepper turns a stolen table into useless hashes; production sets it from a Secret. The local default
    # only serves `make up` (the gateway and `twin keys` on one machine read the same value).
    pepper: SecretStr = SecretStr("twin-local-development-pepper")
    # How long a replica trusts what it read about a key: a revocation is seen within this time (< 1 s).
    cache_ttl_s: float = Field(default=0.5, gt=0, le=1.0)
    cache_size: int = 10_000


class QuotaSettings(BaseSettings):
    """Defaults of the per-key quotas (a key's own row overrides each); enforced in Redis, shared by replicas."""

    model_config = _config("TWIN_QUOTA_")

    requests_per_minute: int = Field(default=600, ge=1)
    request_burst: int | None = None  # bucket size; default: requests_per_minute
    tokens_per_minute: int = Field(default=200_000, ge=1)
    token_burst: int | None = None
    max_concurrent: int = Field(default=16, ge=1)
    # A request holds a concurrency slot at most this long (a crashed replica's slots expire after it).
    slot_lease_s: float = 600.0
    key_prefix: str = "twin:quota"


class RagSettings(BaseSettings):
    """Retrieval-augmented generation: how much context, how it is filtered and phrased."""

    model_config = _config("TWIN_RAG_")

    top_k: int = Field(default=5, ge=1, le=50)  # chunks in the context
    max_top_k: int = 50
    candidates: int = 50  # per search, before fusion
    context_token_budget: int = 900  # word pieces of context passages (the model's window is 2048 by default)
    rerank: bool = False  # only with a reranker passed to run(); none is bundled (see docs/retrieval.md)
    verify_citations: bool = True  # every cited document must still exist in the tenant at answer time


class RequestLogSettings(BaseSettings):
    """The request log and feedback events on Kafka (never on a request's critical wait)."""

    model_config = _config("TWIN_REQUEST_LOG_")

    enabled: bool = True
    requests_topic: str = REQUESTS
    feedback_topic: str = FEEDBACK
    buffer_size: int = 10_000  # events held while Kafka is unreachable; beyond it the oldest are dropped (counted)
    include_query_embedding: bool = True
    # Feedback needs the request it rates: its tenant, question and answer stay in Redis this long.
    record_ttl_s: int = 7 * 24 * 3600


class LimitSettings(BaseSettings):
    """Bounds on what a caller may send (4xx beyond them)."""

    model_config = _config("TWIN_LIMIT_")

    max_body_bytes: int = 2_000_000  # REST bodies over it get 413; gRPC messages over it RESOURCE_EXHAUSTED
    max_question_chars: int = 8_000
    max_messages: int = 64  # OpenAI chat messages
    max_tokens: int = 512  # generation's max_tokens upper bound
    max_ingest_documents: int = 1000
    max_embedding_inputs: int = 256


class GatewaySettings(ServiceSettings):
    service_name: str = "twin-gateway"
    http_port: int = LOCAL_GATEWAY_PORT  # REST, the OpenAI-compatible routes and the web app
    grpc_port: int = LOCAL_GATEWAY_GRPC_PORT  # twin.v1.Gateway
    grpc_host: str | None = None  # default: http_host

    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    internal: InternalAuthSettings = Field(default_factory=InternalAuthSettings)
    keys: KeySettings = Field(default_factory=KeySettings)
    quota: QuotaSettings = Field(default_factory=QuotaSettings)
    rag: RagSettings = Field(default_factory=RagSettings)
    request_log: RequestLogSettings = Field(default_factory=RequestLogSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)

    # Where the ingest service's internal REST API is (documents go through the gateway with the caller's tenant).
    ingest_url: str = f"http://127.0.0.1:{LOCAL_INGEST_PORT}"
    ingest_timeout_s: float = 60.0

    # Model routes: a YAML file (see docs/gateway.md); without one, one route "twin" on the local inference server.
    routes_file: Path | None = None
    inference_url: str = f"127.0.0.1:{LOCAL_INFERENCE_GRPC_PORT}"  # the default route's endpoint (V2 gRPC)

    # The vector store the retrieval reads: a Qdrant server, else the embedded store (one process per path).
    qdrant_url: str | None = None
    store_path: Path = Field(default_factory=lambda: repo_root() / ".local" / "embedder" / "store")

    # Threads that bridge blocking work (retrieval, the inference client's streams) into the event loop.
    worker_threads: int = 64
