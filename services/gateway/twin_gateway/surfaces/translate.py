"""twin.v1 messages <-> the internal request and context, with every input check in one place.

gRPC hands its messages here directly; REST parses its JSON into the same messages first (surfaces/rest_api.py),
so both surfaces accept and refuse exactly the same requests with the same messages. Each refusal names the
field (`GatewayError.field`)."""

from __future__ import annotations

import math

from twin.v1 import twin_pb2 as pb
from twin_common.documents import DocumentKind

from twin_gateway.errors import invalid
from twin_gateway.pipeline.context import (
    Filters,
    GatewayRequest,
    Generation,
    IngestDocument,
    Operation,
    RequestContext,
    Surface,
)
from twin_gateway.settings import LimitSettings

KIND_TO_PROTO = {
    DocumentKind.ARTICLE.value: pb.DOCUMENT_KIND_ARTICLE,
    DocumentKind.POST.value: pb.DOCUMENT_KIND_POST,
    DocumentKind.REPOSITORY.value: pb.DOCUMENT_KIND_REPOSITORY,
    DocumentKind.NOTE.value: pb.DOCUMENT_KIND_NOTE,
}
PROTO_TO_KIND = {v: k for k, v in KIND_TO_PROTO.items()}
HISTORY_ROLES = ("user", "assistant")
MAX_ID_CHARS = 200
MAX_LIST_ITEMS = 100


# --- checks -----------------------------------------------------------------------------------------


def text(field: str, value: str, *, max_chars: int, required: bool = False) -> str:
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        raise invalid(field, "contains a lone surrogate (not valid Unicode text)")
    if "\x00" in value:
        raise invalid(field, "contains a NUL character")
    if required and not value.strip():
        raise invalid(field, "must not be empty")
    if len(value) > max_chars:
        raise invalid(field, f"is {len(value)} characters long; the limit is {max_chars}")
    return value


def _strings(
    field: str, values, *, max_items: int = MAX_LIST_ITEMS, max_chars: int = MAX_ID_CHARS, blank_ok: bool = False
) -> tuple[str, ...]:
    values = list(values)
    if len(values) > max_items:
        raise invalid(field, f"has {len(values)} items; the limit is {max_items}")
    out = []
    for i, value in enumerate(values):
        if blank_ok and not value:
            raise invalid(f"{field}[{i}]", "must not be empty")
        out.append(text(f"{field}[{i}]", value, max_chars=max_chars, required=not blank_ok))
    return tuple(out)


def _kind(field: str, value: int) -> str:
    if value not in PROTO_TO_KIND:
        raise invalid(field, f"must be one of {', '.join(pb.DocumentKind.Name(k) for k in PROTO_TO_KIND)}")
    return PROTO_TO_KIND[value]


def _filters(msg: pb.SearchFilters, field: str = "filters") -> Filters:
    return Filters(
        author_ids=_strings(f"{field}.author_ids", msg.author_ids),
        kinds=tuple(_kind(f"{field}.kinds[{i}]", k) for i, k in enumerate(msg.kinds)),
        tags=_strings(f"{field}.tags", msg.tags),
    )


def _top_k(field: str, value: int, limit: int = 50) -> int | None:
    if value < 0 or value > limit:
        raise invalid(field, f"must be between 0 (the default) and {limit}")
    return value or None


def _generation(msg: pb.GenerationOptions, limits: LimitSettings) -> tuple[Generation, str | None]:
    if msg.max_tokens < 0 or msg.max_tokens > limits.max_tokens:
        raise invalid("generation.max_tokens", f"must be between 0 (the route's default) and {limits.max_tokens}")
    if not math.isfinite(msg.temperature) or not 0 <= msg.temperature <= 2:
        raise invalid("generation.temperature", "must be between 0 and 2")
    if not math.isfinite(msg.top_p) or not 0 <= msg.top_p <= 1:
        raise invalid("generation.top_p", "must be between 0 (the default: 1) and 1")
    stop = _strings("generation.stop", msg.stop, max_items=4, max_chars=50, blank_ok=True)  # "\n\n" is a fine stop
    model = text("generation.model", msg.model, max_chars=MAX_ID_CHARS) or None
    return (
        Generation(
            max_tokens=msg.max_tokens or None,
            temperature=msg.temperature or None,  # 0: the route's default (greedy unless the route says otherwise)
            top_p=msg.top_p or None,
            stop=stop,
        ),
        model,
    )


# --- requests ---------------------------------------------------------------------------------------


def ask(msg: pb.AskRequest, surface: Surface, limits: LimitSettings, *, stream: bool) -> GatewayRequest:
    question = text("question", msg.question, max_chars=limits.max_question_chars, required=True)
    if len(msg.history) > limits.max_messages:
        raise invalid("history", f"has {len(msg.history)} messages; the limit is {limits.max_messages}")
    history = []
    for i, turn in enumerate(msg.history):
        if turn.role not in HISTORY_ROLES:
            raise invalid(f"history[{i}].role", f"must be one of {', '.join(HISTORY_ROLES)}")
        history.append(
            {
                "role": turn.role,
                "content": text(f"history[{i}].content", turn.content, max_chars=limits.max_question_chars),
            }
        )
    generation, route = _generation(msg.generation, limits)
    return GatewayRequest(
        operation=Operation.ASK,
        surface=surface,
        question=question,
        history=tuple(history),
        filters=_filters(msg.filters),
        top_k=_top_k("top_k", msg.top_k),
        route=route,
        generation=generation,
        use_cache=not msg.bypass_cache,
        stream=stream,
    )


def search(msg: pb.SearchRequest, surface: Surface, limits: LimitSettings) -> GatewayRequest:
    return GatewayRequest(
        operation=Operation.SEARCH,
        surface=surface,
        question=text("query", msg.query, max_chars=limits.max_question_chars, required=True),
        filters=_filters(msg.filters),
        top_k=_top_k("top_k", msg.top_k),
        rerank=msg.rerank or None,
    )


def ingest(msg: pb.IngestRequest, surface: Surface, limits: LimitSettings) -> GatewayRequest:
    author = text("author", msg.author, max_chars=200, required=True)
    if not msg.documents:
        raise invalid("documents", "must hold at least one document")
    if len(msg.documents) > limits.max_ingest_documents:
        raise invalid("documents", f"has {len(msg.documents)} documents; the limit is {limits.max_ingest_documents}")
    documents = []
    for i, d in enumerate(msg.documents):
        field = f"documents[{i}]"
        documents.append(
            IngestDocument(
                external_id=text(f"{field}.external_id", d.external_id, max_chars=1000, required=True),
                kind=_kind(f"{field}.kind", d.kind or pb.DOCUMENT_KIND_POST),
                content=text(f"{field}.content", d.content, max_chars=limits.max_body_bytes),
                title=text(f"{field}.title", d.title, max_chars=1000),
                url=text(f"{field}.url", d.url, max_chars=2000) or None,
                language=text(f"{field}.language", d.language, max_chars=20) or None,
                tags=_strings(f"{field}.tags", d.tags),
                metadata={
                    text(f"{field}.metadata", k, max_chars=200, required=True): text(
                        f"{field}.metadata[{k[:40]}]", v, max_chars=2000
                    )
                    for k, v in d.metadata.items()
                },
            )
        )
    return GatewayRequest(operation=Operation.INGEST, surface=surface, author=author, documents=tuple(documents))


def list_documents(msg: pb.ListDocumentsRequest, surface: Surface) -> GatewayRequest:
    if msg.limit < 0 or msg.limit > 1000:
        raise invalid("limit", "must be between 0 (the default: 100) and 1000")
    if msg.offset < 0:
        raise invalid("offset", "must not be negative")
    return GatewayRequest(
        operation=Operation.LIST_DOCUMENTS, surface=surface, limit=msg.limit or 100, offset=msg.offset
    )


def delete_document(msg: pb.DeleteDocumentRequest, surface: Surface) -> GatewayRequest:
    document_id = text("document_id", msg.document_id, max_chars=MAX_ID_CHARS, required=True)
    return GatewayRequest(operation=Operation.DELETE_DOCUMENT, surface=surface, document_id=document_id)


def feedback(msg: pb.FeedbackRequest, surface: Surface, limits: LimitSettings) -> GatewayRequest:
    if msg.rating not in (-1, 0, 1):
        raise invalid("rating", "must be -1 (bad), 0 (neutral) or 1 (good)")
    return GatewayRequest(
        operation=Operation.FEEDBACK,
        surface=surface,
        rated_request_id=text("request_id", msg.request_id, max_chars=MAX_ID_CHARS, required=True),
        rating=msg.rating,
        comment=text("comment", msg.comment, max_chars=limits.max_question_chars),
        corrected_answer=text("corrected_answer", msg.corrected_answer, max_chars=limits.max_question_chars),
    )


# --- responses --------------------------------------------------------------------------------------


def citations(ctx: RequestContext) -> list[pb.Citation]:
    return [
        pb.Citation(
            document_id=c.document_id,
            title=c.title,
            url=c.url or "",
            position=c.position,
            score=c.score,
            snippet=c.snippet,
            number=c.number,
        )
        for c in ctx.citations
    ]


def guardrails(ctx: RequestContext) -> list[pb.GuardrailDecision]:
    return [
        pb.GuardrailDecision(rail=g.rail, decision=g.decision, score=g.score or 0.0, detail=g.detail or "")
        for g in ctx.guardrails
    ]


def _final_fields(ctx: RequestContext) -> dict:
    return {
        "request_id": ctx.request_id,
        "citations": citations(ctx),
        "usage": pb.Usage(prompt_tokens=ctx.prompt_tokens, completion_tokens=ctx.completion_tokens),
        "model": ctx.model or "",
        "model_version": ctx.model_version or "",
        "cache_hit": ctx.cache_hit.value != "none",
        "route": ctx.route or "",
        "intent": ctx.intent or "",
        "template_version": ctx.template_version or "",
        "cache_kind": ctx.cache_hit.value,
        "cache_similarity": ctx.cache_similarity or 0.0,
        "finish_reason": ctx.finish_reason or "",
        "retracted": ctx.retracted,
        "guardrails": guardrails(ctx),
        "endpoint": ctx.endpoint or "",
    }


def ask_response(ctx: RequestContext) -> pb.AskResponse:
    return pb.AskResponse(answer="" if ctx.retracted else ctx.answer_text, **_final_fields(ctx))


def delta_chunk(ctx: RequestContext, delta: str) -> pb.AskStreamChunk:
    return pb.AskStreamChunk(request_id=ctx.request_id, delta=delta)


def final_chunk(ctx: RequestContext) -> pb.AskStreamChunk:
    return pb.AskStreamChunk(done=True, **_final_fields(ctx))


def search_response(ctx: RequestContext) -> pb.SearchResponse:
    hits = []
    for h in ctx.result or []:
        p = h.payload
        hits.append(
            pb.SearchHit(
                chunk_id=h.chunk_id,
                document_id=p.get("document_id", ""),
                title=p.get("title") or "",
                url=p.get("url") or "",
                position=int(p.get("position", 0)),
                text=p.get("text", ""),
                score=float(h.score),
                kind=KIND_TO_PROTO.get(p.get("kind"), pb.DOCUMENT_KIND_UNSPECIFIED),
                tags=list(p.get("tags") or []),
            )
        )
    return pb.SearchResponse(hits=hits, request_id=ctx.request_id)


def ingest_response(ctx: RequestContext) -> pb.IngestResponse:
    report = ctx.result or {}
    return pb.IngestResponse(
        stored=report.get("stored", 0),
        updated=report.get("updated", 0),
        unchanged=report.get("unchanged", 0),
        rejected=[
            pb.IngestRejection(
                external_id=r.get("external_id", ""), reason=r.get("reason", ""), detail=r.get("detail", "")
            )
            for r in report.get("rejections", [])
        ],
    )


def list_documents_response(ctx: RequestContext) -> pb.ListDocumentsResponse:
    return pb.ListDocumentsResponse(
        documents=[
            pb.DocumentInfo(
                document_id=d.get("id", ""),
                author=d.get("author") or "",
                kind=KIND_TO_PROTO.get(d.get("kind"), pb.DOCUMENT_KIND_UNSPECIFIED),
                external_id=d.get("external_id") or "",
                title=d.get("title") or "",
                url=d.get("url") or "",
                content_hash=d.get("content_hash") or "",
                updated_at=str(d.get("updated_at") or ""),
            )
            for d in ctx.result or []
        ]
    )
