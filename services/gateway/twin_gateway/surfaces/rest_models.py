"""The REST bodies: the twin.v1 messages as JSON (same field names; a unit test keeps them in step with the
proto). Document kinds are the lower-case names ("article") of the proto's DOCUMENT_KIND_* values.

Requests are strict (no type coercion, unknown fields refused) so a wrong type is an error naming the field,
not a silent guess. The bounds documented here are checked again, with the gRPC surface's messages, by
surfaces/translate.py."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["article", "post", "repository", "note"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- requests -------------------------------------------------------------------------------------


class SearchFilters(_Request):
    author_ids: list[str] = Field(default_factory=list, max_length=100)
    kinds: list[Kind] = Field(default_factory=list, max_length=4)
    tags: list[str] = Field(default_factory=list, max_length=100)


class GenerationOptions(_Request):
    max_tokens: int = Field(default=0, ge=0, description="0: the route's default")
    temperature: float = Field(default=0.0, ge=0, le=2)
    top_p: float = Field(default=0.0, ge=0, le=1, description="0: the default (1)")
    stop: list[str] = Field(default_factory=list, max_length=4)
    model: str = Field(default="", description="the model route; empty: the default route", max_length=200)


class ChatMessage(_Request):
    role: Literal["user", "assistant"]
    content: str


class AskRequest(_Request):
    question: str = Field(min_length=1)
    filters: SearchFilters = Field(default_factory=SearchFilters)
    generation: GenerationOptions = Field(default_factory=GenerationOptions)
    top_k: int = Field(default=0, ge=0, le=50, description="context passages; 0: the gateway's default")
    bypass_cache: bool = False
    history: list[ChatMessage] = Field(default_factory=list)


class SearchRequest(_Request):
    query: str = Field(min_length=1)
    filters: SearchFilters = Field(default_factory=SearchFilters)
    top_k: int = Field(default=0, ge=0, le=50)
    rerank: bool = False


class IngestDocument(_Request):
    external_id: str = Field(min_length=1, description="the caller's identity of the document; re-sending updates it")
    kind: Kind = "post"
    title: str = ""
    url: str = ""
    content: str = ""
    language: str = ""
    tags: list[str] = Field(default_factory=list, max_length=100)
    metadata: dict[str, str] = Field(default_factory=dict)


class IngestRequest(_Request):
    author: str = Field(min_length=1, max_length=200)
    documents: list[IngestDocument] = Field(min_length=1)


class FeedbackRequest(_Request):
    request_id: str = Field(min_length=1)
    rating: int = Field(ge=-1, le=1, description="-1 bad, 0 neutral, 1 good")
    comment: str = ""
    corrected_answer: str = ""


# --- responses ------------------------------------------------------------------------------------


class Citation(_Response):
    document_id: str
    title: str
    url: str
    position: int
    score: float
    snippet: str
    number: int


class Usage(_Response):
    prompt_tokens: int
    completion_tokens: int


class GuardrailDecision(_Response):
    rail: str
    decision: str
    score: float
    detail: str


class AskResponse(_Response):
    request_id: str
    answer: str
    citations: list[Citation]
    usage: Usage
    model: str
    model_version: str
    cache_hit: bool
    route: str
    intent: str
    template_version: str
    cache_kind: str
    cache_similarity: float
    finish_reason: str
    retracted: bool
    guardrails: list[GuardrailDecision]
    endpoint: str


class AskStreamChunk(_Response):
    """One Server-Sent Event's data: a delta, or (done=true) the final chunk with the answer's metadata."""

    request_id: str
    delta: str
    done: bool
    citations: list[Citation]
    usage: Usage | None = None
    model: str
    model_version: str
    route: str
    intent: str
    template_version: str
    cache_hit: bool
    cache_kind: str
    cache_similarity: float
    finish_reason: str
    retracted: bool
    guardrails: list[GuardrailDecision]
    endpoint: str


class SearchHit(_Response):
    chunk_id: str
    document_id: str
    title: str
    url: str
    position: int
    text: str
    score: float
    kind: str
    tags: list[str]


class SearchResponse(_Response):
    hits: list[SearchHit]
    request_id: str


class IngestRejection(_Response):
    external_id: str
    reason: str
    detail: str


class IngestResponse(_Response):
    stored: int
    updated: int
    unchanged: int
    rejected: list[IngestRejection]


class DocumentInfo(_Response):
    document_id: str
    author: str
    kind: str
    external_id: str
    title: str
    url: str
    content_hash: str
    updated_at: str


class ListDocumentsResponse(_Response):
    documents: list[DocumentInfo]


class DeleteDocumentResponse(_Response):
    pass


class FeedbackResponse(_Response):
    pass


class HealthResponse(_Response):
    status: Literal["STATUS_SERVING", "STATUS_DEGRADED", "STATUS_NOT_SERVING"]
    dependencies: dict[str, bool]


class ErrorDetail(_Response):
    code: str = Field(description="the gRPC status name, e.g. INVALID_ARGUMENT, UNAUTHENTICATED")
    message: str
    field: str | None = None
    reason: str | None = None


class ErrorBody(_Response):
    error: ErrorDetail
