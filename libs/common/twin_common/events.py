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


class RequestLogged(Event):
    """One gateway request, as the monitor sees it (no raw secrets; text kept for drift analysis)."""

    EVENT_TYPE: ClassVar[str] = "request.logged"
    event_type: Literal["request.logged"] = "request.logged"

    request_id: str
    tenant_id: str
    route: str
    model: str | None = None
    prompt: str
    response: str | None = None
    latency_ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hit: bool = False
    retrieved_document_ids: list[str] = Field(default_factory=list)
    blocked_by: str | None = None


class FeedbackGiven(Event):
    """A user's rating of an answer; closes the loop to the trainer."""

    EVENT_TYPE: ClassVar[str] = "feedback.given"
    event_type: Literal["feedback.given"] = "feedback.given"

    request_id: str
    tenant_id: str
    rating: int = Field(ge=-1, le=1)
    comment: str | None = None


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
