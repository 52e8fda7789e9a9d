"""The one request the three surfaces translate to, and the context the pipeline's stages read and enrich.

A surface (gRPC, REST, OpenAI) builds a `GatewayRequest` and hands it with the caller's credentials to the
pipeline; every stage reads and writes the `RequestContext`; the surface turns the context's events and final
state back into its own messages. Nothing in here knows a surface.

Text fields, by who may see them:
- `request.question`: what the caller sent. Only the caller ever sees it again (never logs, cache, model).
- `ctx.prompt_text`: what reaches the model, the cache key, the request log and spans. Equal to the question
  until an input rail masks it (then `ctx.reverse_map` holds placeholder -> original for the caller's answer).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from twin_common.events import CacheHit, GuardrailOutcome


class Operation(StrEnum):
    """What the caller asks the gateway to do; decides the required scope and the stages that run."""

    ASK = "ask"
    SEARCH = "search"
    INGEST = "ingest"
    LIST_DOCUMENTS = "list_documents"
    DELETE_DOCUMENT = "delete_document"
    FEEDBACK = "feedback"
    EMBED = "embed"
    LIST_MODELS = "list_models"


class Scope(StrEnum):
    ASK = "ask"
    SEARCH = "search"
    INGEST = "ingest"
    FEEDBACK = "feedback"
    ADMIN = "admin"


REQUIRED_SCOPE: dict[Operation, Scope] = {
    Operation.ASK: Scope.ASK,
    Operation.SEARCH: Scope.SEARCH,
    Operation.INGEST: Scope.INGEST,
    Operation.LIST_DOCUMENTS: Scope.SEARCH,
    Operation.DELETE_DOCUMENT: Scope.INGEST,
    Operation.FEEDBACK: Scope.FEEDBACK,
    Operation.EMBED: Scope.SEARCH,
    Operation.LIST_MODELS: Scope.ASK,
}


class Surface(StrEnum):
    GRPC = "grpc"
    REST = "rest"
    OPENAI = "openai"
    WEB = "web"


@dataclass(frozen=True)
class Filters:
    """Retrieval filters the caller may set; the tenant is never one of them (it comes from the key)."""

    author_ids: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()  # twin_common.documents.DocumentKind values
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Generation:
    """Generation options as the caller gave them (None: the route's default)."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class IngestDocument:
    external_id: str
    kind: str
    content: str
    title: str = ""
    url: str | None = None
    language: str | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayRequest:
    """The one internal request. Only the fields of its operation are set."""

    operation: Operation
    surface: Surface
    # ask / search
    question: str = ""
    history: tuple[dict[str, str], ...] = ()  # earlier chat turns (OpenAI messages before the last user turn)
    filters: Filters = Filters()
    top_k: int | None = None
    rerank: bool | None = None
    route: str | None = None  # the model route asked for (None: the default route)
    generation: Generation = Generation()
    use_cache: bool = True  # False: neither read nor fill the answer cache (proto: bypass_cache)
    stream: bool = False
    # ingest / documents
    author: str = ""
    documents: tuple[IngestDocument, ...] = ()
    document_id: str = ""
    limit: int = 100
    offset: int = 0
    # feedback
    rated_request_id: str = ""
    rating: int = 0
    comment: str = ""
    corrected_answer: str = ""
    # embeddings
    inputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the API key says (the only source of the tenant)."""

    key_id: str
    tenant_id: str
    scopes: frozenset[str]
    routes: frozenset[str]  # empty: every route
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    max_concurrent: int | None = None

    def may_use_route(self, route: str) -> bool:
        return not self.routes or route in self.routes


@dataclass(frozen=True)
class Citation:
    """A numbered source of the answer ([n] in the text is `number`)."""

    number: int
    document_id: str
    title: str
    url: str | None
    position: int  # the chunk's position in its document
    score: float
    snippet: str = ""


@dataclass
class Delta:
    """A piece of answer text on its way to the caller."""

    text: str


class Status(StrEnum):
    OK = "ok"
    BLOCKED = "blocked"
    RETRACTED = "retracted"
    ERROR = "error"


Cleanup = Callable[["RequestContext"], Awaitable[None]]


@dataclass
class RequestContext:
    """Everything one request accumulates on its way through the stages."""

    request: GatewayRequest
    credentials: str | None  # the bearer token as sent; the auth stage reads it, nothing else may
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: float = field(default_factory=time.perf_counter)
    traceparent: str | None = None

    # identity (auth stage)
    caller: Caller | None = None

    # what reaches the model, the cache and the logs (input rails may mask it)
    prompt_text: str = ""
    reverse_map: dict[str, str] = field(default_factory=dict)  # placeholder -> original, for the caller only

    # route stage
    intent: str | None = None
    route: str | None = None
    template_version: str | None = None
    use_retrieval: bool = True

    # retrieve stage
    hits: list = field(default_factory=list)  # twin_search ScoredChunk, rank order
    citations: list[Citation] = field(default_factory=list)
    context_text: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)  # the chat messages sent to the model
    query_embedding: list[float] | None = None
    embedding_model: str | None = None

    # generate stage: `token_stream` is opened by the generate stage and drained by the pipeline runner
    token_stream: AsyncIterator[str] | None = None
    answer_text: str = ""
    model: str | None = None
    model_version: str | None = None
    endpoint: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    first_token_at: float | None = None
    last_token_at: float | None = None
    fallbacks: int = 0

    # cache stages
    cache_hit: CacheHit = CacheHit.NONE
    cache_similarity: float | None = None

    # guardrail stages
    guardrails: list[GuardrailOutcome] = field(default_factory=list)
    blocked_by: str | None = None
    retracted: bool = False

    # the end
    answered_early: bool = False  # a stage answered before generation (cache hit, fixed reply)
    status: Status = Status.OK
    error: Exception | None = None
    result: Any = None  # the answer of a non-ask operation (search hits, ingest report, ...)

    # bookkeeping
    stage_latencies_ms: dict[str, float] = field(default_factory=dict)
    log_fields: dict[str, Any] = field(default_factory=dict)
    cleanups: list[Cleanup] = field(default_factory=list)

    # --- what stages call -------------------------------------------------------------------------

    @property
    def tenant_id(self) -> str:
        if self.caller is None:
            raise RuntimeError("no caller yet: the auth stage runs first")
        return self.caller.tenant_id

    def answer_early(
        self,
        text: str,
        *,
        citations: list[Citation] | None = None,
        model: str | None = None,
        model_version: str | None = None,
        finish_reason: str = "stop",
    ) -> None:
        """Answer now (a cache hit, a fixed reply): the stages before generation that remain are skipped, the
        text is sent to the caller as one delta, and the stages marked `runs_after_early_answer` still run."""
        self.answered_early = True
        self.answer_text = text
        if citations is not None:
            self.citations = list(citations)
        self.model = model or self.model
        self.model_version = model_version or self.model_version
        self.finish_reason = finish_reason

    def record_guardrail(self, outcome: GuardrailOutcome) -> None:
        self.guardrails.append(outcome)

    def retract(self, outcome: GuardrailOutcome) -> None:
        """Called by an output rail (from `on_delta` or `run`): the answer is withdrawn; a stream ends with a
        retracted final chunk (OpenAI: finish_reason "content_filter")."""
        self.guardrails.append(outcome)
        self.retracted = True
        self.status = Status.RETRACTED
        self.finish_reason = "content_filter"

    def add_cleanup(self, cleanup: Cleanup) -> None:
        """Run `cleanup(ctx)` when the request ends, however it ends (success, error, client gone)."""
        self.cleanups.append(cleanup)

    # --- timings ----------------------------------------------------------------------------------

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started_at) * 1000

    @property
    def ttft_ms(self) -> float | None:
        if self.first_token_at is None:
            return None
        return (self.first_token_at - self.started_at) * 1000

    @property
    def tpot_ms(self) -> float | None:
        if self.first_token_at is None or self.last_token_at is None or self.completion_tokens < 2:
            return None
        return (self.last_token_at - self.first_token_at) * 1000 / (self.completion_tokens - 1)

    @property
    def cited_document_ids(self) -> list[str]:
        return list(dict.fromkeys(c.document_id for c in self.citations))
