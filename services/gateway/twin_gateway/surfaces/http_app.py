"""The HTTP app: the REST surface, the OpenAI-compatible routes, health, readiness and /metrics, one error shape.

Malformed JSON, wrong types, unknown or missing fields are 400 INVALID_ARGUMENT naming the field (FastAPI's
default would be 422 with its own body), bodies over `TWIN_LIMIT_MAX_BODY_BYTES` are 413 before they are read,
and every error body has the same shape: {"error": {...}} (the OpenAI shape under the OpenAI routes).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from twin_common.body_limit import BodySizeLimitMiddleware
from twin_common.service import build_http_app

from twin_gateway.errors import Code, GatewayError
from twin_gateway.service import GatewayRuntime
from twin_gateway.settings import GatewaySettings
from twin_gateway.surfaces import openai_api, rest_api
from twin_gateway.surfaces import rest_models as m

log = logging.getLogger(__name__)

OPENAI_PATHS = ("/v1/chat/", "/v1/models", "/v1/embeddings")
_STATUS_CODES = {
    400: Code.INVALID_ARGUMENT,
    401: Code.UNAUTHENTICATED,
    403: Code.PERMISSION_DENIED,
    404: Code.NOT_FOUND,
    405: Code.INVALID_ARGUMENT,
    413: Code.PAYLOAD_TOO_LARGE,
    415: Code.INVALID_ARGUMENT,
    429: Code.RESOURCE_EXHAUSTED,
}


def _field(loc: tuple) -> str:
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else list(loc)
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out or "body"


def _respond(request: Request, error: GatewayError) -> JSONResponse:
    if request.url.path.startswith(OPENAI_PATHS):
        return openai_api.openai_error(error)
    return rest_api.error_response(error)


def _allowed_methods(app: FastAPI, request: Request) -> set[str]:
    from starlette.routing import Match

    methods: set[str] = set()
    for route in app.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return methods


def _body_too_large(scope, max_bytes: int) -> JSONResponse:
    error = GatewayError(Code.PAYLOAD_TOO_LARGE, f"body: larger than the limit of {max_bytes} bytes", field="body")
    return _respond(Request(scope), error)


def build_app(runtime: GatewayRuntime, lifespan=None) -> FastAPI:
    """The app of a runtime: its readiness answers /readyz, its dependencies (a superset) /v1/health. With
    `lifespan`, the app starts and stops the runtime itself (create_asgi_app); run() starts it beforehand."""
    settings = runtime.settings
    app = build_http_app(
        settings,
        runtime.ready,
        metrics_registries=(runtime.metrics.registry,),  # /metrics: the process-wide RED metrics + the gateway's
        lifespan=lifespan,
        version="1",
        description=(
            "The LLM Twin gateway: twin.v1 over REST (the same messages as the gRPC API) and OpenAI-compatible routes."
        ),
    )
    app.include_router(rest_api.build_router(runtime))
    app.include_router(openai_api.build_router(runtime))
    if settings.webapp.enabled:
        from twin_gateway import webapp

        webapp.install(app, runtime)

    @app.get(
        "/v1/health", tags=["twin.v1"], response_model=m.HealthResponse, summary="Health of the gateway's dependencies"
    )
    async def v1_health() -> JSONResponse:
        results = await runtime.dependencies.run()
        status = "STATUS_SERVING" if all(results.values()) else "STATUS_NOT_SERVING"
        return JSONResponse({"status": status, "dependencies": results})

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
        field = _field(tuple(first.get("loc", ())))
        message = first.get("msg", "invalid")
        if first.get("type") == "json_invalid":
            field, message = "body", f"malformed JSON ({first.get('ctx', {}).get('error', 'cannot be parsed')})"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return _respond(request, GatewayError(Code.INVALID_ARGUMENT, f"{field}: {message}{more}", field=field))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, Code.INTERNAL if exc.status_code >= 500 else Code.INVALID_ARGUMENT)
        field = "body" if exc.status_code in (400, 413) else None  # FastAPI's "error parsing the body", our 413
        message = f"body: {exc.detail}" if field else str(exc.detail)
        error = GatewayError(code, message, field=field)
        response = _respond(request, error)
        response.status_code = exc.status_code
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        if exc.status_code == 405:  # every method of the path (Starlette lists only the first route's)
            response.headers["Allow"] = ", ".join(sorted(_allowed_methods(app, request)))
        return response

    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        return _respond(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _respond(request, GatewayError(Code.INTERNAL, "internal error"))

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.limits.max_body_bytes, refusal=_body_too_large)
    return app


def create_asgi_app(settings: GatewaySettings | None = None, vector_store=None, embedder=None) -> FastAPI:
    """A self-contained ASGI app (REST + OpenAI routes, no gRPC) that starts its gateway in its lifespan: for
    in-process clients such as schemathesis' `from_asgi`, or any ASGI server."""
    from contextlib import asynccontextmanager

    runtime = GatewayRuntime(settings or GatewaySettings())

    @asynccontextmanager
    async def lifespan(app):
        await runtime.start(vector_store, embedder)
        try:
            yield
        finally:
            await runtime.close()

    return build_app(runtime, lifespan=lifespan)
