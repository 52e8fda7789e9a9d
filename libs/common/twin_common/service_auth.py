"""The shared service token on the server side: internal APIs (ingest, the embedder's read view, inference) serve
tenant data only to callers that present it (the gateway and operators).

The token comes from `InternalAuthSettings.service_token` (env TWIN_SERVICE_TOKEN; the local stack writes one to
.local/stack.env, the chart takes it from a Secret) and travels as the HTTP header / gRPC metadata
`SERVICE_TOKEN_HEADER`. It is compared in constant time (hmac.compare_digest).

When no token is configured the service does not fall back to open access: every request for tenant data is
refused (401 / UNAUTHENTICATED) and a warning is logged at start. Health endpoints stay open in both cases, so
probes and `make status` work without credentials.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable

import grpc
from fastapi import HTTPException, Request
from pydantic import SecretStr

from twin_common.settings import SERVICE_TOKEN_HEADER, InternalAuthSettings

log = logging.getLogger("twin.auth")

UNCONFIGURED = "no service token is configured on this service (TWIN_SERVICE_TOKEN): it refuses {what}"
MISSING_OR_WRONG = f"missing or wrong service token (header {SERVICE_TOKEN_HEADER})"


class ServiceTokenCheck:
    """Decides whether a presented token is the configured one."""

    def __init__(self, token: SecretStr | str | None):
        value = token.get_secret_value() if isinstance(token, SecretStr) else token
        self._token = value.encode() if value else None

    @classmethod
    def from_settings(cls, settings: InternalAuthSettings | None = None) -> ServiceTokenCheck:
        return cls((settings or InternalAuthSettings()).service_token)

    @property
    def configured(self) -> bool:
        return self._token is not None

    def accepts(self, presented: str | bytes | None) -> bool:
        if self._token is None or not presented:
            return False
        if isinstance(presented, str):
            presented = presented.encode("utf-8", errors="replace")
        return hmac.compare_digest(self._token, presented)

    def refusal(self) -> str:
        return MISSING_OR_WRONG if self.configured else UNCONFIGURED.format(what="every request for tenant data")

    def warn_if_unconfigured(self, service: str) -> None:
        if not self.configured:
            log.warning(
                "%s: TWIN_SERVICE_TOKEN is not set; every request for tenant data will be refused with 401 "
                "(health endpoints stay open)",
                service,
            )


def require_service_token(check: ServiceTokenCheck) -> Callable[[Request], None]:
    """A FastAPI dependency: 401 unless the request carries the service token."""

    def dependency(request: Request) -> None:
        if not check.accepts(request.headers.get(SERVICE_TOKEN_HEADER)):
            raise HTTPException(401, check.refusal(), headers={"WWW-Authenticate": SERVICE_TOKEN_HEADER})

    return dependency


class ServiceTokenMiddleware:
    """ASGI middleware for apps whose routes are not ours to decorate (KServe's): every HTTP request whose path
    does not match one of `open_paths` (regular expressions, matched in full) needs the token."""

    def __init__(self, app, check: ServiceTokenCheck, open_paths: Iterable[str] = ()):
        self.app = app
        self.check = check
        self.open = [re.compile(p) for p in open_paths]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or any(p.fullmatch(scope["path"]) for p in self.open):
            await self.app(scope, receive, send)
            return
        name = SERVICE_TOKEN_HEADER.encode()
        presented = next((v for k, v in scope.get("headers", []) if k.lower() == name), None)
        if self.check.accepts(presented):
            await self.app(scope, receive, send)
            return
        from starlette.responses import JSONResponse

        response = JSONResponse(
            {"error": self.check.refusal()}, status_code=401, headers={"WWW-Authenticate": SERVICE_TOKEN_HEADER}
        )
        await response(scope, receive, send)


class ServiceTokenInterceptor(grpc.aio.ServerInterceptor):
    """gRPC (asyncio) interceptor: UNAUTHENTICATED for every method outside `open_methods` (full method names,
    e.g. "/grpc.health.v1.Health/Check") called without the token in its metadata."""

    def __init__(self, check: ServiceTokenCheck, open_methods: Iterable[str] = ()):
        self.check = check
        self.open = set(open_methods)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method in self.open:
            return handler
        metadata = dict(handler_call_details.invocation_metadata or ())
        if self.check.accepts(metadata.get(SERVICE_TOKEN_HEADER)):
            return handler
        return _refusing(handler, self.check.refusal())


def _refusing(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that answers UNAUTHENTICATED without calling it. Streaming
    responses get an async generator, as other interceptors (OpenTelemetry's) iterate streaming behaviours."""

    async def refuse(request_or_iterator, context) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    async def refuse_stream(request_or_iterator, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        yield  # never reached: abort raises; the yield makes this an async generator

    kinds = (
        ("unary_unary", grpc.unary_unary_rpc_method_handler, refuse),
        ("unary_stream", grpc.unary_stream_rpc_method_handler, refuse_stream),
        ("stream_unary", grpc.stream_unary_rpc_method_handler, refuse),
        ("stream_stream", grpc.stream_stream_rpc_method_handler, refuse_stream),
    )
    for attribute, factory, behaviour in kinds:
        if getattr(handler, attribute):
            return factory(
                behaviour,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    raise RuntimeError("gRPC handler without an implementation")


def service_token_header(settings: InternalAuthSettings | None = None) -> dict[str, str]:
    """The header (or gRPC metadata) a caller sends: {SERVICE_TOKEN_HEADER: token}, empty when none is set."""
    token = (settings or InternalAuthSettings()).service_token
    return {SERVICE_TOKEN_HEADER: token.get_secret_value()} if token else {}


def token_for_this_run() -> None:
    """For a test run or a benchmark that starts services itself: when neither the environment nor the local
    stack's stack.env has TWIN_SERVICE_TOKEN, make one in the environment, inherited by every process started."""
    if InternalAuthSettings().service_token is None:
        os.environ["TWIN_SERVICE_TOKEN"] = secrets.token_urlsafe(32)
