"""The OpenAI-compatible surface: the official `openai` SDK pointed at `<gateway>/v1` with a twin API key works
unchanged, streaming included, and raises its own exception classes from our status codes and error bodies.

    POST /v1/chat/completions   a RAG answer over the caller's tenant; `model` is the route (GET /v1/models);
                                stream, stream_options.include_usage; citations in the extra `citations` field
    GET  /v1/models             the routes the key may use
    POST /v1/embeddings         twin-embed vectors (float or base64)

The last user message is the question, earlier user/assistant messages its history; the caller's system
messages are not passed on (the versioned template frames the model). Twin extensions in the body (the SDK's
`extra_body`): `filters` ({author_ids, kinds, tags}), `top_k`, `bypass_cache`.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Literal

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from twin.v1 import twin_pb2 as pb

from twin_gateway.errors import Code, GatewayError, invalid
from twin_gateway.pipeline.context import GatewayRequest, Generation, Operation, RequestContext, Surface
from twin_gateway.service import GatewayRuntime
from twin_gateway.surfaces import rest_models as rm
from twin_gateway.surfaces import translate
from twin_gateway.surfaces.rest_api import bearer, primed, server_timing, surrogate_field

OPENAI = Surface.OPENAI
EMBEDDING_MODELS = ("twin-embed",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class Message(_Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None
    name: str | None = None


class StreamOptions(_Strict):
    include_usage: bool = False


class ChatCompletionRequest(_Strict):
    model: str = Field(min_length=1, max_length=200, description="a route from GET /v1/models")
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, ge=1, le=1, description="only 1")
    user: str | None = None
    seed: int | None = None
    # twin extensions
    filters: rm.SearchFilters | None = None
    top_k: int | None = Field(default=None, ge=0, le=50)
    bypass_cache: bool = False


class EmbeddingRequest(_Strict):
    model: str = Field(min_length=1)
    input: str | list[str] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    error: OpenAIErrorDetail


ERRORS = {
    status: {"model": OpenAIError, "description": text}
    for status, text in {
        400: "invalid_request_error (a guardrail block: code content_filter)",
        401: "authentication_error: missing, malformed, unknown or revoked API key",
        403: "permission_error: the key lacks the scope or may not use the route (model)",
        413: "the body is over the configured limit",
        429: "rate_limit_error: a quota of the key (Retry-After says when to retry)",
        503: "service_unavailable_error: a dependency is down",
        504: "timeout_error",
    }.items()
}


def openai_error(error: GatewayError) -> JSONResponse:
    """The OpenAI error shape; a guardrail block is a 400 with code content_filter, as OpenAI answers it."""
    body = error.openai_body()
    status = error.http_status
    if error.code is Code.FAILED_PRECONDITION:
        status = 400
        body["error"]["code"] = "content_filter"
    return JSONResponse(body, status_code=status, headers=error.headers())


def _content(message: Message, index: int) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return "".join(part.text for part in message.content)


def chat_request(body: ChatCompletionRequest, limits) -> GatewayRequest:
    field = surrogate_field(body.model_dump())
    if field is not None:
        raise invalid(field, "contains a lone surrogate (not valid Unicode text)")
    if len(body.messages) > limits.max_messages:
        raise invalid("messages", f"has {len(body.messages)} messages; the limit is {limits.max_messages}")
    turns = [(i, m) for i, m in enumerate(body.messages) if m.role in ("user", "assistant")]
    if not turns or turns[-1][1].role != "user":
        raise invalid("messages", "must end with a user message (the question)")
    last_index, last = turns[-1]
    # the same checks as the twin.v1 surfaces: build the message and translate it
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    max_tokens = body.max_completion_tokens or body.max_tokens or 0
    if max_tokens > limits.max_tokens:
        field = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
        raise invalid(field, f"must be at most {limits.max_tokens}")
    message = pb.AskRequest(
        question=_content(last, last_index),
        top_k=body.top_k or 0,
        bypass_cache=body.bypass_cache,
        generation=pb.GenerationOptions(
            max_tokens=max_tokens,
            temperature=body.temperature or 0.0,
            top_p=body.top_p or 0.0,
            stop=stop,
            model=body.model,
        ),
        history=[pb.ChatMessage(role=m.role, content=_content(m, i)) for i, m in turns[:-1]],
    )
    if body.filters is not None:
        message.filters.CopyFrom(
            pb.SearchFilters(
                author_ids=body.filters.author_ids,
                kinds=[translate.KIND_TO_PROTO[k] for k in body.filters.kinds],
                tags=body.filters.tags,
            )
        )
    try:
        return translate.ask(message, OPENAI, limits, stream=body.stream)
    except GatewayError as error:
        if error.field == "question":
            error.field = f"messages[{last_index}].content"
            error.message = error.message.replace("question", error.field, 1)
        raise


def _citations(ctx: RequestContext) -> list[dict]:
    return [
        {
            "number": c.number,
            "document_id": c.document_id,
            "title": c.title,
            "url": c.url,
            "position": c.position,
            "score": c.score,
            "snippet": c.snippet,
        }
        for c in ctx.citations
    ]


def _twin(ctx: RequestContext) -> dict:
    return {
        "request_id": ctx.request_id,
        "model": ctx.model,
        "model_version": ctx.model_version,
        "endpoint": ctx.endpoint,
        "route": ctx.route,
        "intent": ctx.intent,
        "template_version": ctx.template_version,
        "cache_kind": ctx.cache_hit.value,
        "cache_similarity": ctx.cache_similarity,
        "retracted": ctx.retracted,
        "guardrails": [g.model_dump() for g in ctx.guardrails],
    }


def _usage(ctx: RequestContext) -> dict:
    return {
        "prompt_tokens": ctx.prompt_tokens,
        "completion_tokens": ctx.completion_tokens,
        "total_tokens": ctx.prompt_tokens + ctx.completion_tokens,
    }


def _fingerprint(ctx: RequestContext) -> str:
    return f"{ctx.model or ''}:{ctx.model_version or ''}"


def _finish(ctx: RequestContext) -> str:
    return "content_filter" if ctx.retracted else (ctx.finish_reason or "stop")


def build_router(gateway: GatewayRuntime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["openai"], responses=ERRORS)
    limits = gateway.settings.limits

    @router.post("/chat/completions", summary="OpenAI chat completions: a RAG answer over the caller's tenant")
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
        try:
            internal = chat_request(body, limits)
            ctx = gateway.context(internal, bearer(request))
            if not body.stream:
                await gateway.call(ctx)
                return JSONResponse(
                    {
                        "id": f"chatcmpl-{ctx.request_id}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": ctx.route or body.model,
                        "system_fingerprint": _fingerprint(ctx),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": "" if ctx.retracted else ctx.answer_text},
                                "finish_reason": _finish(ctx),
                                "logprobs": None,
                            }
                        ],
                        "usage": _usage(ctx),
                        "citations": _citations(ctx),
                        "twin": _twin(ctx),
                    },
                    headers={"Server-Timing": server_timing(ctx)},
                )
            first, rest = await primed(gateway.stream(ctx))
        except GatewayError as error:
            return openai_error(error)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        created = int(time.time())
        chunk_id = f"chatcmpl-{ctx.request_id}"

        def chunk(delta: dict, finish: str | None = None, **extra) -> bytes:
            data = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": ctx.route or body.model,
                "system_fingerprint": _fingerprint(ctx),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
                **extra,
            }
            return f"data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()

        async def events() -> AsyncIterator[bytes]:
            try:
                yield chunk({"role": "assistant", "content": first or ""})
                async for text in rest:
                    yield chunk({"content": text})
                yield chunk({}, _finish(ctx), citations=_citations(ctx), twin=_twin(ctx))
                if include_usage:
                    usage = {
                        "id": chunk_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": ctx.route or body.model,
                        "choices": [],
                        "usage": _usage(ctx),
                    }
                    yield f"data: {json.dumps(usage, separators=(',', ':'))}\n\n".encode()
            except GatewayError as error:
                yield f"data: {json.dumps(error.openai_body(), separators=(',', ':'))}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @router.get("/models", summary="OpenAI models: the routes this key may use")
    async def models(request: Request) -> Response:
        try:
            ctx = gateway.context(GatewayRequest(operation=Operation.LIST_MODELS, surface=OPENAI), bearer(request))
            await gateway.call(ctx)
        except GatewayError as error:
            return openai_error(error)
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": name, "object": "model", "created": 0, "owned_by": "twin", "description": description}
                    for name, description in ctx.result
                ],
            }
        )

    @router.post("/embeddings", summary="OpenAI embeddings: twin-embed vectors")
    async def embeddings(body: EmbeddingRequest, request: Request) -> Response:
        try:
            if body.model not in EMBEDDING_MODELS:
                raise GatewayError(
                    Code.INVALID_ARGUMENT,
                    f"model: unknown embedding model {body.model!r}; known: {', '.join(EMBEDDING_MODELS)}",
                    field="model",
                    reason="model_not_found",
                )
            inputs = [body.input] if isinstance(body.input, str) else list(body.input)
            if len(inputs) > limits.max_embedding_inputs:
                raise invalid("input", f"has {len(inputs)} texts; the limit is {limits.max_embedding_inputs}")
            checked = tuple(
                translate.text(f"input[{i}]", t, max_chars=limits.max_question_chars, required=True)
                for i, t in enumerate(inputs)
            )
            ctx = gateway.context(
                GatewayRequest(operation=Operation.EMBED, surface=OPENAI, inputs=checked), bearer(request)
            )
            await gateway.call(ctx)
            vectors = np.asarray(ctx.result, dtype=np.float32)
            if body.dimensions is not None and body.dimensions != vectors.shape[1]:
                raise invalid("dimensions", f"twin-embed has {vectors.shape[1]} dimensions only")
        except GatewayError as error:
            return openai_error(error)
        data = []
        for i, vector in enumerate(vectors):
            embedding = (
                base64.b64encode(vector.astype("<f4").tobytes()).decode()
                if body.encoding_format == "base64"
                else vector.tolist()
            )
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body.model,
                "usage": {"prompt_tokens": ctx.prompt_tokens, "total_tokens": ctx.prompt_tokens},
            }
        )

    return router


__all__ = ["Generation", "build_router", "openai_error"]
