"""Versioned Kafka event contracts.

Every event the platform publishes is a pydantic model with an `event_type`, a `schema_version` and an
`event_id` that makes its processing idempotent (consumers key their side effects on it, or on the
entity ids it carries). Debezium's change envelope is modelled here too, so every consumer of a CDC
topic parses it the same way.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


class Event(BaseModel):
    """Base of every platform event."""

    model_config = ConfigDict(frozen=True)

    EVENT_TYPE: ClassVar[str] = "event"

    event_id: str = Field(default_factory=_new_id)
    schema_version: int = 1
    occurred_at: datetime = Field(default_factory=_now)
    traceparent: str | None = None

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, data: bytes):
        return cls.model_validate_json(data)


# --- Debezium change events -------------------------------------------------------------------


class ChangeOp(StrEnum):
    """Debezium operation codes."""

    CREATE = "c"
    UPDATE = "u"
    DELETE = "d"
    READ = "r"  # a row read by the initial snapshot
    TRUNCATE = "t"


class DebeziumSource(BaseModel):
    model_config = ConfigDict(extra="allow")

    connector: str | None = None
    name: str | None = None
    db: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    table: str | None = None
    ts_ms: int | None = None  # commit time, milliseconds
    ts_us: int | None = None  # commit time, microseconds (Debezium 2.5+)
    lsn: int | None = None
    txId: int | None = None
    snapshot: str | bool | None = None


class DebeziumEnvelope(BaseModel):
    """The value of a Debezium change event (JSON converter, schemas disabled).

    A tombstone (null value after a delete) is not an envelope: consumers see `None` for it.
    """

    model_config = ConfigDict(extra="allow")

    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    op: ChangeOp
    source: DebeziumSource = Field(default_factory=DebeziumSource)
    ts_ms: int | None = None

    @property
    def row(self) -> dict[str, Any] | None:
        """The row as it is after the change (the `before` image for a delete)."""
        return self.before if self.op == ChangeOp.DELETE else self.after

    @classmethod
    def parse(cls, data: bytes | str | None) -> DebeziumEnvelope | None:
        """Parse a CDC message value; None for a tombstone."""
        if data is None or data in (b"", ""):
            return None
        return cls.model_validate_json(data)


# --- Platform events --------------------------------------------------------------------------


class DocumentIndexed(Event):
    """The embedder finished applying one document change to the vector store and feature store."""

    EVENT_TYPE: ClassVar[str] = "document.indexed"
    event_type: Literal["document.indexed"] = "document.indexed"

    tenant_id: str
    document_id: str
    content_hash: str | None
    op: ChangeOp
    chunk_count: int
    embedding_model: str
    source_lsn: int | None = None


class ModelRegistered(Event):
    """A model version was registered in MLflow or an alias was moved to it."""

    EVENT_TYPE: ClassVar[str] = "model.registered"
    event_type: Literal["model.registered"] = "model.registered"

    model_name: str
    version: str
    alias: str | None = None
    run_id: str | None = None
    model_uri: str


class CacheHit(StrEnum):
    NONE = "none"
    EXACT = "exact"
    SEMANTIC = "semantic"


class GuardrailOutcome(BaseModel):
    """What one rail decided about one request (never the raw classifier output or the unmasked text)."""

    model_config = ConfigDict(frozen=True)

    rail: str  # e.g. "input.pii", "input.injection", "retrieval.injection", "output.toxicity"
    decision: Literal["pass", "flag", "mask", "block", "drop", "retract"]
    score: float | None = None
    latency_ms: float = 0.0
    detail: str | None = None  # e.g. the entity types masked; never the values


class RequestLogged(Event):
    """One gateway request, as the monitor and the trainer see it.

    Text is the masked form (what reached the model); no key, secret or unmasked PII is ever in it. Timings in
    milliseconds: ttft from the request's arrival to the first generated token, tpot per output token after it.
    """

    EVENT_TYPE: ClassVar[str] = "request.logged"
    event_type: Literal["request.logged"] = "request.logged"
    schema_version: int = 2

    request_id: str
    tenant_id: str
    key_id: str | None = None
    surface: str | None = None  # "grpc" | "rest" | "openai" | "web"
    route: str
    intent: str | None = None  # what the router's classifier chose
    model: str | None = None  # the model that answered (after fallbacks)
    model_version: str | None = None
    template_version: str | None = None
    status: Literal["ok", "blocked", "retracted", "error"] = "ok"
    error_code: str | None = None
    prompt: str
    response: str | None = None
    streamed: bool = False
    latency_ms: float
    stage_latencies_ms: dict[str, float] = Field(default_factory=dict)
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hit: CacheHit = CacheHit.NONE
    cache_similarity: float | None = None
    fallbacks: int = 0  # endpoints tried and failed before the one that answered
    retrieved_document_ids: list[str] = Field(default_factory=list)
    cited_document_ids: list[str] = Field(default_factory=list)
    query_embedding: list[float] | None = None  # the retrieval query's embedding, for drift
    embedding_model: str | None = None
    guardrails: list[GuardrailOutcome] = Field(default_factory=list)
    blocked_by: str | None = None


class FeedbackGiven(Event):
    """A user's rating of an answer; closes the loop to the trainer (a correction is a preference pair:
    `corrected_answer` chosen, `answer` rejected)."""

    EVENT_TYPE: ClassVar[str] = "feedback.given"
    event_type: Literal["feedback.given"] = "feedback.given"

    request_id: str
    tenant_id: str
    key_id: str | None = None
    rating: int = Field(ge=-1, le=1)
    comment: str | None = None
    corrected_answer: str | None = None
    # The request as it was answered (masked), so consumers need no join with the request log.
    question: str | None = None
    answer: str | None = None
    model: str | None = None
    model_version: str | None = None


class DriftAlert(Event):
    """A drift test failed on a monitoring window; one per metric per window (the monitor de-duplicates)."""

    EVENT_TYPE: ClassVar[str] = "drift.alert"
    event_type: Literal["drift.alert"] = "drift.alert"

    alert_id: str  # deterministic: tenant, model, window and metric, so a replay is recognisable
    tenant_id: str
    route: str | None = None
    model: str | None = None
    model_version: str | None = None
    metric: str  # e.g. "query_embedding_drift", "prompt_length_drift", "latency_ms_drift"
    method: str | None = None
    score: float
    threshold: float
    window_id: str
    window_start: datetime | None = None
    window_end: datetime | None = None
    report_id: str | None = None


class DeadLetter(Event):
    """A message that failed validation or processing too many times, kept with its error."""

    EVENT_TYPE: ClassVar[str] = "dead_letter"
    event_type: Literal["dead_letter"] = "dead_letter"

    source_topic: str
    partition: int
    offset: int
    key: str | None
    value: str | None
    error: str
    attempts: int
    consumer_group: str

    @classmethod
    def of_record(cls, record: Any, error: str, attempts: int, consumer_group: str) -> DeadLetter:
        """The dead letter of a consumed Kafka record (an aiokafka or kafka-python ConsumerRecord): where it was,
        its key and value as text (undecodable bytes replaced), and why it could not be processed."""

        def text(data: bytes | None) -> str | None:
            return None if data is None else data.decode("utf-8", errors="replace")

        return cls(
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=text(record.key),
            value=text(record.value),
            error=error,
            attempts=attempts,
            consumer_group=consumer_group,
        )
