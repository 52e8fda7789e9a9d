"""The REST surface under /v1: the twin.v1 methods as JSON, answers streamed as Server-Sent Events.

    POST   /v1/ask                    AskRequest -> AskResponse
    POST   /v1/ask/stream             AskRequest -> text/event-stream of AskStreamChunk (the last has done=true)
    POST   /v1/search                 SearchRequest -> SearchResponse
    POST   /v1/documents              IngestRequest -> IngestResponse
    GET    /v1/documents              ?limit&offset -> ListDocumentsResponse
    DELETE /v1/documents/{id}         -> DeleteDocumentResponse
    POST   /v1/feedback               FeedbackRequest -> FeedbackResponse
    GET    /v1/health                 -> HealthResponse (no key needed)

Each body is parsed into the twin.v1 message and goes through the same translation as gRPC, so both surfaces
accept and refuse the same requests with the same messages. Errors: {"error": {"code", "message", "field"?,
"reason"?}} with the HTTP status of the code (errors.py); a streamed answer that fails after it started ends
with an `event: error` carrying the same body.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from google.protobuf import json_format
from twin.v1 import twin_pb2 as pb

from twin_gateway.errors import Code, GatewayError, invalid
from twin_gateway.pipeline.context import RequestContext, Surface
from twin_gateway.service import GatewayRuntime
from twin_gateway.surfaces import rest_models as m
from twin_gateway.surfaces import translate

REST = Surface.REST

ERRORS = {
    status: {"model": m.ErrorBody, "description": text}
    for status, text in {
        400: "INVALID_ARGUMENT: malformed JSON, a wrong type, an unknown or missing field, a value out of bounds",
        401: "UNAUTHENTICATED: missing, malformed, unknown or revoked API key",
        403: "PERMISSION_DENIED: the key lacks the scope or may not use the route",
        404: "NOT_FOUND",
        413: "the body is over the configured limit",
        422: "FAILED_PRECONDITION: a guardrail blocked the request",
        429: "RESOURCE_EXHAUSTED: a quota of the key (Retry-After says when to retry)",
        503: "UNAVAILABLE: a dependency is down (Retry-After when known)",
        504: "DEADLINE_EXCEEDED",
    }.items()
}


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else header


def to_message(body: dict, message_class):
    """A REST body (lower-case document kinds) as its twin.v1 message; text that is not valid Unicode (a lone
    surrogate, which JSON can spell) is refused naming its field."""
    field = surrogate_field(body)
    if field is not None:
        raise invalid(field, "contains a lone surrogate (not valid Unicode text)")
    try:
        return json_format.ParseDict(_kinds_to_proto(body), message_class())
    except json_format.ParseError as exc:
        raise GatewayError(Code.INVALID_ARGUMENT, f"body: {exc}", field="body") from None


def surrogate_field(value, path: str = "") -> str | None:
    if isinstance(value, str):
        return path or "body" if any("\ud800" <= ch <= "\udfff" for ch in value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            key_path = f"{path}.{key}" if path else str(key)
            found = surrogate_field(key, key_path) or surrogate_field(item, key_path)
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = surrogate_field(item, f"{path}[{i}]")
            if found:
                return found
    return None


def to_json(message) -> dict:
    """A twin.v1 message as its REST body (every field present, lower-case document kinds)."""
    data = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return _kinds_from_proto(data)


def _kinds_to_proto(value):
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "kind" and isinstance(item, str):
                out[key] = f"DOCUMENT_KIND_{item.upper()}"
            elif key == "kinds" and isinstance(item, list):
                out[key] = [f"DOCUMENT_KIND_{k.upper()}" for k in item]
            else:
                out[key] = _kinds_to_proto(item)
        return out
    if isinstance(value, list):
        return [_kinds_to_proto(v) for v in value]
    return value


def _kinds_from_proto(value):
    if isinstance(value, dict):
        return {
            key: (
                item.removeprefix("DOCUMENT_KIND_").lower()
                if key == "kind" and isinstance(item, str)
                else _kinds_from_proto(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_kinds_from_proto(v) for v in value]
    return value


def error_response(error: GatewayError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.http_status, headers=error.headers())


def server_timing(ctx: RequestContext) -> str:
    parts = [f"{name};dur={ms:.3f}" for name, ms in ctx.stage_latencies_ms.items()]
    parts.append(f"total;dur={ctx.elapsed_ms():.3f}")
    return ", ".join(parts)


async def primed(stream: AsyncIterator[str]) -> tuple[str | None, AsyncIterator[str]]:
    """Wait for the first piece of an answer before the response starts, so a refusal (401, 429, 503...) still
    gets its own HTTP status; then the rest streams as it comes. Raises GatewayError."""
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        return None, stream
    return first, stream


def sse(data: dict, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def build_router(gateway: GatewayRuntime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["twin.v1"], responses=ERRORS)
    limits = gateway.settings.limits

    async def run(request: Request, internal) -> RequestContext:
        ctx = gateway.context(internal, bearer(request))
        await gateway.call(ctx)
        return ctx

    @router.post("/ask", response_model=m.AskResponse, summary="Ask: one grounded answer with its citations")
    async def ask(body: m.AskRequest, request: Request) -> Response:
        try:
            internal = translate.ask(to_message(body.model_dump(), pb.AskRequest), REST, limits, stream=False)
            ctx = await run(request, internal)
        except GatewayError as error:
            return error_response(error)
        return JSONResponse(to_json(translate.ask_response(ctx)), headers={"Server-Timing": server_timing(ctx)})

    @router.post(
        "/ask/stream",
        summary="AskStream: the answer as Server-Sent Events, token by token; the last event has done=true",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {"schema": m.AskStreamChunk.model_json_schema()}}}},
    )
    async def ask_stream(body: m.AskRequest, request: Request) -> Response:
        try:
            internal = translate.ask(to_message(body.model_dump(), pb.AskRequest), REST, limits, stream=True)
            ctx = gateway.context(internal, bearer(request))
            first, rest = await primed(gateway.stream(ctx))
        except GatewayError as error:
            return error_response(error)

        async def events() -> AsyncIterator[bytes]:
            try:
                if first is not None:
                    yield sse(to_json(translate.delta_chunk(ctx, first)))
                async for text in rest:
                    yield sse(to_json(translate.delta_chunk(ctx, text)))
                yield sse(to_json(translate.final_chunk(ctx)))
            except GatewayError as error:
                yield sse(error.body(), event="error")

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Request-Id": ctx.request_id},
        )

    @router.post("/search", response_model=m.SearchResponse, summary="Search: ranked chunks, no generation")
    async def search(body: m.SearchRequest, request: Request) -> Response:
        try:
            ctx = await run(request, translate.search(to_message(body.model_dump(), pb.SearchRequest), REST, limits))
        except GatewayError as error:
            return error_response(error)
        return JSONResponse(to_json(translate.search_response(ctx)))

    @router.post("/documents", response_model=m.IngestResponse, summary="Ingest: add or update documents")
    async def ingest(body: m.IngestRequest, request: Request) -> Response:
        try:
            ctx = await run(request, translate.ingest(to_message(body.model_dump(), pb.IngestRequest), REST, limits))
        except GatewayError as error:
            return error_response(error)
        return JSONResponse(to_json(translate.ingest_response(ctx)))

    @router.get("/documents", response_model=m.ListDocumentsResponse, summary="ListDocuments: newest first")
    async def list_documents(
        request: Request, limit: int = Query(0, ge=0, le=1000), offset: int = Query(0, ge=0, le=2**31 - 1)
    ) -> Response:
        try:
            internal = translate.list_documents(pb.ListDocumentsRequest(limit=limit, offset=offset), REST)
            ctx = await run(request, internal)
        except GatewayError as error:
            return error_response(error)
        return JSONResponse(to_json(translate.list_documents_response(ctx)))

    @router.delete("/documents/{document_id}", response_model=m.DeleteDocumentResponse, summary="DeleteDocument")
    async def delete_document(document_id: str, request: Request) -> Response:
        try:
            internal = translate.delete_document(pb.DeleteDocumentRequest(document_id=document_id), REST)
            await run(request, internal)
        except GatewayError as error:
            return error_response(error)
        return JSONResponse({})

    @router.post("/feedback", response_model=m.FeedbackResponse, summary="Feedback: rate an earlier answer")
    async def feedback(body: m.FeedbackRequest, request: Request) -> Response:
        try:
            await run(request, translate.feedback(to_message(body.model_dump(), pb.FeedbackRequest), REST, limits))
        except GatewayError as error:
            return error_response(error)
        return JSONResponse({})

    return router
