"""Settings of the inference service (environment variables TWIN_*; defaults fit the local stack)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from twin_common import topics
from twin_common.settings import (
    LOCAL_INFERENCE_GRPC_PORT,
    LOCAL_INFERENCE_PORT,
    InternalAuthSettings,
    KafkaSettings,
    MlflowSettings,
    ServiceSettings,
)


def _models_cache() -> Path:
    return Path.home() / ".cache" / "twin" / "models"


class InferenceSettings(ServiceSettings):
    service_name: str = "twin-inference"
    http_host: str = "127.0.0.1"
    http_port: int = LOCAL_INFERENCE_PORT
    grpc_port: int = LOCAL_INFERENCE_GRPC_PORT

    # which models this process serves (names are also the MLflow registered-model names by default)
    serve_llm: bool = True
    serve_embed: bool = True
    serve_rerank: bool = True
    llm_registered_name: str = "twin-llm"
    embed_registered_name: str = "twin-embed"
    rerank_registered_name: str = "twin-rerank"
    alias: str = "champion"

    # registry watching: Kafka events, plus a periodic alias poll as a safety net
    models_topic: str = topics.MODELS_REGISTERED
    poll_interval_s: float = 60.0
    watch_kafka: bool = True

    # dynamic batching of embed / rerank rows
    max_batch_size: int = 64
    max_batch_delay_ms: float = 5.0
    max_rows_per_request: int = 256

    # generation limits (requests beyond them get INVALID_ARGUMENT / HTTP 400)
    max_prompt_tokens: int = 2048
    max_new_tokens: int = 512
    max_concurrent_generations: int = 4
    merge_lora: bool = True

    device: str = "cpu"
    models_cache: Path = Field(default_factory=_models_cache)  # the converted SmolLM2 lives here
    download_cache: Path | None = None  # registry downloads; default models_cache / "mlflow"
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    auth: InternalAuthSettings = Field(default_factory=InternalAuthSettings)  # TWIN_SERVICE_TOKEN

    # the MLflow registry at start: how long a look-up may take (each HTTP call to MLflow is bounded by it and
    # retried at most registry_retries times), and what to do when the registry does not answer in time:
    # "fallback" serves the bundled models (twin-embed, twin-llm) with a warning and says so on /v1/status,
    # then switches to the registered versions once the registry answers; "fail" stops the server
    registry_timeout_s: float = 5.0
    registry_retries: int = 1
    registry_unreachable: Literal["fallback", "fail"] = "fallback"
