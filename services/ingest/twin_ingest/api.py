"""REST API of the ingest service: post documents or URLs for a tenant, list and delete its documents.

Every route except the health checks requires the service token (header `x-twin-service-token`, see
twin_common.service_auth). Request bodies are limited to `max_request_bytes` (413 beyond) and parsed and validated
in a worker thread, never on the event loop; a malformed body gets 422 naming the field, a bad document inside a
well-formed body becomes that document's rejection in the report.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool
from twin_common.body_limit import BodySizeLimitMiddleware
from twin_common.health import HealthRegistry
from twin_common.service import build_http_app
from twin_common.service_auth import ServiceTokenCheck, require_service_token

from twin_ingest.importers.jsonl import JsonlRecord
from twin_ingest.importers.web import import_urls
from twin_ingest.model import Rejection, SourceDocument
from twin_ingest.pipeline import run_import
from twin_ingest.settings import IngestSettings
from twin_ingest.store import DocumentStore
from twin_ingest.text import UnusableText, check_text

TENANT = Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="tenant id")


def _utf8(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains unpaired surrogates (not UTF-8)") from None
    if "\x00" in value:
        raise ValueError("contains NUL characters")
    return value


class DocumentsIn(BaseModel):
    author: str = Field(min_length=1, max_length=200)
    documents: list[JsonlRecord] = Field(min_length=1, max_length=1000)

    _author_text = field_validator("author")(_utf8)


class UrlsIn(BaseModel):
    author: str = Field(min_length=1, max_length=200)
    urls: list[str] = Field(min_length=1, max_length=100)

    _author_text = field_validator("author")(_utf8)


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


def _parse_body(raw: bytes, model: type[BaseModel]) -> Any:
    """The body as `model` (in a worker thread). Python's JSON parser keeps unpaired surrogate escapes, so such a
    field reaches the per-document checks and is rejected there with its name, not the whole request."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "input": {}}
        raise RequestValidationError([{**error, "ctx": {"error": exc.msg}}]) from None
    except UnicodeDecodeError:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "body is not UTF-8 JSON", "input": {}}]
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {**e, "loc": ("body", *e["loc"]), "input": _printable(e.get("input"))}
            for e in exc.errors(include_url=False, include_context=False)
        ]
        raise RequestValidationError(errors) from None


def _printable(value: Any) -> Any:
    """An error's echo of the input, with unpaired surrogates escaped so the 422 response can be encoded."""
    if isinstance(value, str):
        return value.encode("utf-8", errors="backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


async def _json_body(request: Request, model: type[BaseModel]) -> Any:
    raw = await request.body()  # bounded by BodySizeLimitMiddleware
    return await run_in_threadpool(_parse_body, raw, model)


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a body the route parses itself (the schema lands in components by `_with_models`)."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def _with_models(app: FastAPI, models: list[type[BaseModel]]) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                body = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(body.pop("$defs", {}))
                components[model.__name__] = body
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi


def build_app(settings: IngestSettings, health: HealthRegistry | None = None) -> FastAPI:
    health = health or HealthRegistry()
    dsn = settings.dsn()

    def database_ready() -> bool:
        with DocumentStore(dsn) as store:
            return store.conn.execute("SELECT 1 FROM schema_migrations LIMIT 1").fetchone() is not None

    health.add("postgres", database_ready)
    app = build_http_app(settings, health)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    token = ServiceTokenCheck.from_settings(settings.auth)
    token.warn_if_unconfigured(settings.service_name)
    api = APIRouter(dependencies=[Depends(require_service_token(token))])
    limits = settings.item_limits()

    def _import(items, tenant: str, author: str) -> dict[str, Any]:
        with DocumentStore(dsn) as store:
            return run_import(items, store, tenant, author, limits).as_dict()

    @api.post("/v1/tenants/{tenant}/documents", response_model=ReportOut, openapi_extra=_body_schema(DocumentsIn))
    async def post_documents(request: Request, tenant: str = TENANT) -> dict[str, Any]:
        """Store documents given inline (the JSONL record shape); idempotent on the content hash."""
        body: DocumentsIn = await _json_body(request, DocumentsIn)

        def check_and_import() -> dict[str, Any]:
            return _import(_as_documents(body.documents, settings.max_document_bytes), tenant, body.author)

        return await run_in_threadpool(check_and_import)

    @api.post("/v1/tenants/{tenant}/urls", response_model=ReportOut, openapi_extra=_body_schema(UrlsIn))
    async def post_urls(request: Request, tenant: str = TENANT) -> dict[str, Any]:
        """Fetch each URL and store its text; failures are reported per URL. Internal addresses are refused."""
        body: UrlsIn = await _json_body(request, UrlsIn)

        def fetch_and_import() -> dict[str, Any]:
            items = import_urls(
                body.urls,
                max_bytes=settings.max_document_bytes,
                policy=settings.fetch_policy(),
                limits=settings.fetch_limits(),
            )
            return _import(items, tenant, body.author)

        return await run_in_threadpool(fetch_and_import)

    @api.get("/v1/tenants/{tenant}/documents")
    async def list_documents(
        tenant: str = TENANT, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0)
    ) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            with DocumentStore(dsn) as store:
                return store.list_documents(tenant, limit, offset)

        return await run_in_threadpool(read)

    @api.delete("/v1/tenants/{tenant}/documents/{document_id}", status_code=204)
    async def delete_document(document_id: str, tenant: str = TENANT) -> None:
        try:
            uuid.UUID(document_id)
        except ValueError:
            raise HTTPException(422, f"document id {document_id!r} is not a UUID") from None

        def remove() -> bool:
            with DocumentStore(dsn) as store:
                return store.delete_document(tenant, document_id)

        if not await run_in_threadpool(remove):
            raise HTTPException(404, f"no document {document_id} in tenant {tenant}")

    @app.exception_handler(psycopg.OperationalError)
    async def database_unavailable(request: Request, exc: psycopg.OperationalError) -> JSONResponse:
        # the database went away (items are never the cause: their errors are rejections in the report)
        return JSONResponse({"detail": "the database is unavailable; the request can be retried"}, status_code=503)

    app.include_router(api)
    _with_models(app, [DocumentsIn, UrlsIn])
    return app
