"""REST API of the ingest service: post documents or URLs for a tenant, list and delete its documents."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Path, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from twin_common.health import HealthRegistry
from twin_common.service import build_http_app

from twin_ingest.importers.jsonl import JsonlRecord
from twin_ingest.importers.web import import_urls
from twin_ingest.model import Rejection, SourceDocument
from twin_ingest.pipeline import run_import
from twin_ingest.settings import IngestSettings
from twin_ingest.store import DocumentStore
from twin_ingest.text import UnusableText, check_text

TENANT = Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="tenant id")


class DocumentsIn(BaseModel):
    author: str = Field(min_length=1, max_length=200)
    documents: list[JsonlRecord] = Field(min_length=1, max_length=1000)


class UrlsIn(BaseModel):
    author: str = Field(min_length=1, max_length=200)
    urls: list[str] = Field(min_length=1, max_length=100)


class ReportOut(BaseModel):
    stored: int
    updated: int
    unchanged: int
    rejected: int
    rejections: list[dict[str, str]]


def _as_documents(records: list[JsonlRecord], max_bytes: int) -> list[SourceDocument | Rejection]:
    items: list[SourceDocument | Rejection] = []
    for record in records:
        try:
            content = check_text(record.content, max_bytes)
        except UnusableText as exc:
            items.append(Rejection(record.id, exc.reason, exc.detail))
            continue
        items.append(
            SourceDocument(
                kind=record.kind,
                external_id=record.id,
                content=content,
                title=record.title,
                url=record.url,
                language=record.language,
                tags=tuple(record.tags),
                metadata=record.metadata,
            )
        )
    return items


def build_app(settings: IngestSettings, health: HealthRegistry | None = None) -> FastAPI:
    health = health or HealthRegistry()
    dsn = settings.dsn()

    def database_ready() -> bool:
        with DocumentStore(dsn) as store:
            return store.conn.execute("SELECT 1 FROM schema_migrations LIMIT 1").fetchone() is not None

    health.add("postgres", database_ready)
    app = build_http_app(settings, health)

    def _import(items, tenant: str, author: str) -> dict[str, Any]:
        with DocumentStore(dsn) as store:
            return run_import(items, store, tenant, author).as_dict()

    @app.post("/v1/tenants/{tenant}/documents", response_model=ReportOut)
    async def post_documents(body: DocumentsIn, tenant: str = TENANT) -> dict[str, Any]:
        """Store documents given inline (the JSONL record shape); idempotent on the content hash."""
        items = _as_documents(body.documents, settings.max_document_bytes)
        return await run_in_threadpool(_import, items, tenant, body.author)

    @app.post("/v1/tenants/{tenant}/urls", response_model=ReportOut)
    async def post_urls(body: UrlsIn, tenant: str = TENANT) -> dict[str, Any]:
        """Fetch each URL and store its text; failures are reported per URL."""

        def fetch_and_import() -> dict[str, Any]:
            with httpx.Client(timeout=settings.fetch_timeout_s, follow_redirects=True) as client:
                items = list(import_urls(body.urls, client, settings.max_document_bytes))
            return _import(items, tenant, body.author)

        return await run_in_threadpool(fetch_and_import)

    @app.get("/v1/tenants/{tenant}/documents")
    async def list_documents(
        tenant: str = TENANT, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0)
    ) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            with DocumentStore(dsn) as store:
                return store.list_documents(tenant, limit, offset)

        return await run_in_threadpool(read)

    @app.delete("/v1/tenants/{tenant}/documents/{document_id}", status_code=204)
    async def delete_document(document_id: str, tenant: str = TENANT) -> None:
        import uuid

        try:
            uuid.UUID(document_id)
        except ValueError:
            raise HTTPException(422, f"document id {document_id!r} is not a UUID") from None

        def remove() -> bool:
            with DocumentStore(dsn) as store:
                return store.delete_document(tenant, document_id)

        if not await run_in_threadpool(remove):
            raise HTTPException(404, f"no document {document_id} in tenant {tenant}")

    return app
