"""HTTP surface of the embedder: health, /metrics, and a read-only view of the store (the embedded store
admits one process, so tests and operators inspect it through the worker).

/readyz is not ready while the consumer waits for a dependency (the check `dependencies`); /v1/stats says which
one, since when, and the last error. Every /v1 route requires the service token (they show tenant data)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from twin_common.health import HealthRegistry
from twin_common.service import build_http_app
from twin_common.service_auth import ServiceTokenCheck, require_service_token
from twin_search.vectorstore.base import SearchFilter

from twin_embedder.app import EmbedderConsumer
from twin_embedder.settings import EmbedderSettings


def build_app(settings: EmbedderSettings, consumer: EmbedderConsumer) -> FastAPI:
    health = HealthRegistry()
    health.add("kafka", lambda: consumer.broker.running)
    health.add("dependencies", lambda: consumer.ready)
    app = build_http_app(settings, health, metrics_registries=[consumer.metrics.registry])
    pipeline = consumer.pipeline
    token = ServiceTokenCheck.from_settings(settings.auth)
    token.warn_if_unconfigured(settings.service_name)
    api = APIRouter(dependencies=[Depends(require_service_token(token))])

    @api.get("/v1/stats")
    def stats() -> dict:
        s = consumer.stats
        return {
            "batches": s.batches,
            "messages": s.messages,
            "dead_letters": s.dead_letters,
            "last_error": s.last_error,
            "paused": s.waiting is not None,
            "waiting_for": s.waiting.as_dict() if s.waiting else None,
        }

    @api.get("/v1/tenants/{tenant_id}/points")
    def tenant_points(tenant_id: str) -> dict:
        with pipeline.lock:
            return {"count": pipeline.store.count(SearchFilter(tenant_id))}

    @api.get("/v1/tenants/{tenant_id}/documents/{document_id}/points")
    def document_points(tenant_id: str, document_id: str) -> dict:
        with pipeline.lock:
            ids = sorted(pipeline.store.document_point_ids(tenant_id, document_id))
            hits = {h.chunk_id: h.payload for h in pipeline.store.retrieve(ids)} if ids else {}
        return {
            "points": [
                {
                    "id": i,
                    "position": hits[i]["position"],
                    "content_hash": hits[i]["content_hash"],
                    "text": hits[i]["text"],
                }
                for i in ids
                if i in hits
            ]
        }

    app.include_router(api)
    return app
