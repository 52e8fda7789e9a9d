from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DocumentKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOCUMENT_KIND_UNSPECIFIED: _ClassVar[DocumentKind]
    DOCUMENT_KIND_ARTICLE: _ClassVar[DocumentKind]
    DOCUMENT_KIND_POST: _ClassVar[DocumentKind]
    DOCUMENT_KIND_REPOSITORY: _ClassVar[DocumentKind]
    DOCUMENT_KIND_NOTE: _ClassVar[DocumentKind]
DOCUMENT_KIND_UNSPECIFIED: DocumentKind
DOCUMENT_KIND_ARTICLE: DocumentKind
DOCUMENT_KIND_POST: DocumentKind
DOCUMENT_KIND_REPOSITORY: DocumentKind
DOCUMENT_KIND_NOTE: DocumentKind

class SearchFilters(_message.Message):
    __slots__ = ("author_ids", "kinds", "tags")
    AUTHOR_IDS_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    author_ids: _containers.RepeatedScalarFieldContainer[str]
    kinds: _containers.RepeatedScalarFieldContainer[DocumentKind]
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, author_ids: _Optional[_Iterable[str]] = ..., kinds: _Optional[_Iterable[_Union[DocumentKind, str]]] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class GenerationOptions(_message.Message):
    __slots__ = ("max_tokens", "temperature", "top_p", "stop", "model")
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    max_tokens: int
    temperature: float
    top_p: float
    stop: _containers.RepeatedScalarFieldContainer[str]
    model: str
    def __init__(self, max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., stop: _Optional[_Iterable[str]] = ..., model: _Optional[str] = ...) -> None: ...

class ChatMessage(_message.Message):
    __slots__ = ("role", "content")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    role: str
    content: str
    def __init__(self, role: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class AskRequest(_message.Message):
    __slots__ = ("question", "filters", "generation", "top_k", "bypass_cache", "history")
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    BYPASS_CACHE_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    question: str
    filters: SearchFilters
    generation: GenerationOptions
    top_k: int
    bypass_cache: bool
    history: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    def __init__(self, question: _Optional[str] = ..., filters: _Optional[_Union[SearchFilters, _Mapping]] = ..., generation: _Optional[_Union[GenerationOptions, _Mapping]] = ..., top_k: _Optional[int] = ..., bypass_cache: _Optional[bool] = ..., history: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ...) -> None: ...

class Citation(_message.Message):
    __slots__ = ("document_id", "title", "url", "position", "score", "snippet", "number")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SNIPPET_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    title: str
    url: str
    position: int
    score: float
    snippet: str
    number: int
    def __init__(self, document_id: _Optional[str] = ..., title: _Optional[str] = ..., url: _Optional[str] = ..., position: _Optional[int] = ..., score: _Optional[float] = ..., snippet: _Optional[str] = ..., number: _Optional[int] = ...) -> None: ...

class GuardrailDecision(_message.Message):
    __slots__ = ("rail", "decision", "score", "detail")
    RAIL_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    rail: str
    decision: str
    score: float
    detail: str
    def __init__(self, rail: _Optional[str] = ..., decision: _Optional[str] = ..., score: _Optional[float] = ..., detail: _Optional[str] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ...) -> None: ...

class AskResponse(_message.Message):
    __slots__ = ("request_id", "answer", "citations", "usage", "model", "model_version", "cache_hit", "route", "intent", "template_version", "cache_kind", "cache_similarity", "finish_reason", "retracted", "guardrails", "endpoint")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CACHE_KIND_FIELD_NUMBER: _ClassVar[int]
    CACHE_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    RETRACTED_FIELD_NUMBER: _ClassVar[int]
    GUARDRAILS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    answer: str
    citations: _containers.RepeatedCompositeFieldContainer[Citation]
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
    guardrails: _containers.RepeatedCompositeFieldContainer[GuardrailDecision]
    endpoint: str
    def __init__(self, request_id: _Optional[str] = ..., answer: _Optional[str] = ..., citations: _Optional[_Iterable[_Union[Citation, _Mapping]]] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., model: _Optional[str] = ..., model_version: _Optional[str] = ..., cache_hit: _Optional[bool] = ..., route: _Optional[str] = ..., intent: _Optional[str] = ..., template_version: _Optional[str] = ..., cache_kind: _Optional[str] = ..., cache_similarity: _Optional[float] = ..., finish_reason: _Optional[str] = ..., retracted: _Optional[bool] = ..., guardrails: _Optional[_Iterable[_Union[GuardrailDecision, _Mapping]]] = ..., endpoint: _Optional[str] = ...) -> None: ...

class AskStreamChunk(_message.Message):
    __slots__ = ("request_id", "delta", "done", "citations", "usage", "model", "model_version", "route", "intent", "template_version", "cache_hit", "cache_kind", "cache_similarity", "finish_reason", "retracted", "guardrails", "endpoint")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    CACHE_KIND_FIELD_NUMBER: _ClassVar[int]
    CACHE_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    RETRACTED_FIELD_NUMBER: _ClassVar[int]
    GUARDRAILS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    delta: str
    done: bool
    citations: _containers.RepeatedCompositeFieldContainer[Citation]
    usage: Usage
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
    guardrails: _containers.RepeatedCompositeFieldContainer[GuardrailDecision]
    endpoint: str
    def __init__(self, request_id: _Optional[str] = ..., delta: _Optional[str] = ..., done: _Optional[bool] = ..., citations: _Optional[_Iterable[_Union[Citation, _Mapping]]] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., model: _Optional[str] = ..., model_version: _Optional[str] = ..., route: _Optional[str] = ..., intent: _Optional[str] = ..., template_version: _Optional[str] = ..., cache_hit: _Optional[bool] = ..., cache_kind: _Optional[str] = ..., cache_similarity: _Optional[float] = ..., finish_reason: _Optional[str] = ..., retracted: _Optional[bool] = ..., guardrails: _Optional[_Iterable[_Union[GuardrailDecision, _Mapping]]] = ..., endpoint: _Optional[str] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("query", "filters", "top_k", "rerank")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    RERANK_FIELD_NUMBER: _ClassVar[int]
    query: str
    filters: SearchFilters
    top_k: int
    rerank: bool
    def __init__(self, query: _Optional[str] = ..., filters: _Optional[_Union[SearchFilters, _Mapping]] = ..., top_k: _Optional[int] = ..., rerank: _Optional[bool] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("chunk_id", "document_id", "title", "url", "position", "text", "score", "kind", "tags")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    document_id: str
    title: str
    url: str
    position: int
    text: str
    score: float
    kind: DocumentKind
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, chunk_id: _Optional[str] = ..., document_id: _Optional[str] = ..., title: _Optional[str] = ..., url: _Optional[str] = ..., position: _Optional[int] = ..., text: _Optional[str] = ..., score: _Optional[float] = ..., kind: _Optional[_Union[DocumentKind, str]] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "request_id")
    HITS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    request_id: str
    def __init__(self, hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class IngestDocument(_message.Message):
    __slots__ = ("external_id", "kind", "title", "url", "content", "language", "tags", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    external_id: str
    kind: DocumentKind
    title: str
    url: str
    content: str
    language: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, external_id: _Optional[str] = ..., kind: _Optional[_Union[DocumentKind, str]] = ..., title: _Optional[str] = ..., url: _Optional[str] = ..., content: _Optional[str] = ..., language: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class IngestRequest(_message.Message):
    __slots__ = ("author", "documents")
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    author: str
    documents: _containers.RepeatedCompositeFieldContainer[IngestDocument]
    def __init__(self, author: _Optional[str] = ..., documents: _Optional[_Iterable[_Union[IngestDocument, _Mapping]]] = ...) -> None: ...

class IngestRejection(_message.Message):
    __slots__ = ("external_id", "reason", "detail")
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    external_id: str
    reason: str
    detail: str
    def __init__(self, external_id: _Optional[str] = ..., reason: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class IngestResponse(_message.Message):
    __slots__ = ("stored", "updated", "unchanged", "rejected")
    STORED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    stored: int
    updated: int
    unchanged: int
    rejected: _containers.RepeatedCompositeFieldContainer[IngestRejection]
    def __init__(self, stored: _Optional[int] = ..., updated: _Optional[int] = ..., unchanged: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[IngestRejection, _Mapping]]] = ...) -> None: ...

class ListDocumentsRequest(_message.Message):
    __slots__ = ("limit", "offset")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    limit: int
    offset: int
    def __init__(self, limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class DocumentInfo(_message.Message):
    __slots__ = ("document_id", "author", "kind", "external_id", "title", "url", "content_hash", "updated_at")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    author: str
    kind: DocumentKind
    external_id: str
    title: str
    url: str
    content_hash: str
    updated_at: str
    def __init__(self, document_id: _Optional[str] = ..., author: _Optional[str] = ..., kind: _Optional[_Union[DocumentKind, str]] = ..., external_id: _Optional[str] = ..., title: _Optional[str] = ..., url: _Optional[str] = ..., content_hash: _Optional[str] = ..., updated_at: _Optional[str] = ...) -> None: ...

class ListDocumentsResponse(_message.Message):
    __slots__ = ("documents",)
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[DocumentInfo]
    def __init__(self, documents: _Optional[_Iterable[_Union[DocumentInfo, _Mapping]]] = ...) -> None: ...

class DeleteDocumentRequest(_message.Message):
    __slots__ = ("document_id",)
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    def __init__(self, document_id: _Optional[str] = ...) -> None: ...

class DeleteDocumentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FeedbackRequest(_message.Message):
    __slots__ = ("request_id", "rating", "comment", "corrected_answer")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    CORRECTED_ANSWER_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    rating: int
    comment: str
    corrected_answer: str
    def __init__(self, request_id: _Optional[str] = ..., rating: _Optional[int] = ..., comment: _Optional[str] = ..., corrected_answer: _Optional[str] = ...) -> None: ...

class FeedbackResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ("status", "dependencies")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[HealthResponse.Status]
        STATUS_SERVING: _ClassVar[HealthResponse.Status]
        STATUS_DEGRADED: _ClassVar[HealthResponse.Status]
        STATUS_NOT_SERVING: _ClassVar[HealthResponse.Status]
    STATUS_UNSPECIFIED: HealthResponse.Status
    STATUS_SERVING: HealthResponse.Status
    STATUS_DEGRADED: HealthResponse.Status
    STATUS_NOT_SERVING: HealthResponse.Status
    class DependenciesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    status: HealthResponse.Status
    dependencies: _containers.ScalarMap[str, bool]
    def __init__(self, status: _Optional[_Union[HealthResponse.Status, str]] = ..., dependencies: _Optional[_Mapping[str, bool]] = ...) -> None: ...
