"""What the monitor keeps of each event: RequestLogged and FeedbackGiven as flat rows, and the segment they belong to."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from twin_common.events import FeedbackGiven, RequestLogged

# Rails' decisions from the mildest to the most severe; a request's outcome is the most severe one any rail took.
GUARDRAIL_SEVERITY = ("pass", "flag", "mask", "drop", "retract", "block")
NO_GUARDRAIL = "none"


def guardrail_outcome(event: RequestLogged) -> str:
    if not event.guardrails:
        return NO_GUARDRAIL
    return max((g.decision for g in event.guardrails), key=GUARDRAIL_SEVERITY.index)


def segment_of(event: RequestLogged, fields: Sequence[str]) -> str:
    """The segment key within the tenant: e.g. "route=twin" for fields ("route",); "" when no field is named."""
    return ",".join(f"{name}={getattr(event, name) or ''}" for name in fields)


def _text(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; a NUL in a prompt is not a reason to lose the request.
    return None if value is None else value.replace("\x00", "\ufffd")


def _utc(moment: datetime) -> datetime:
    # an event time without a zone is read as UTC (windows compare event times with each other and with now)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _embedding(values: list[float] | None) -> list[float] | None:
    # An embedding with a NaN or an infinity cannot be compared; kept out rather than poisoning the window's test.
    if not values or not all(math.isfinite(v) for v in values):
        return None
    return list(values)


@dataclass(frozen=True)
class RequestRow:
    event_id: str
    request_id: str
    tenant_id: str
    segment: str
    occurred_at: datetime
    route: str
    surface: str | None
    intent: str | None
    model: str | None
    model_version: str | None
    status: str
    prompt: str
    response: str | None
    latency_ms: float | None
    ttft_ms: float | None
    tpot_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    cache_hit: str
    fallbacks: int
    guardrail_outcome: str
    retrieved_count: int
    cited_count: int
    query_embedding: list[float] | None
    embedding_model: str | None

    @classmethod
    def from_event(cls, event: RequestLogged, segment_by: Sequence[str]) -> RequestRow:
        return cls(
            event_id=event.event_id,
            request_id=event.request_id,
            tenant_id=event.tenant_id,
            segment=segment_of(event, segment_by),
            occurred_at=_utc(event.occurred_at),
            route=_text(event.route),
            surface=_text(event.surface),
            intent=_text(event.intent),
            model=_text(event.model),
            model_version=_text(event.model_version),
            status=event.status,
            prompt=_text(event.prompt),
            response=_text(event.response),
            latency_ms=_finite(event.latency_ms),
            ttft_ms=_finite(event.ttft_ms),
            tpot_ms=_finite(event.tpot_ms),
            prompt_tokens=event.prompt_tokens,
            completion_tokens=event.completion_tokens,
            cache_hit=event.cache_hit.value,
            fallbacks=event.fallbacks,
            guardrail_outcome=guardrail_outcome(event),
            retrieved_count=len(event.retrieved_document_ids),
            cited_count=len(event.cited_document_ids),
            query_embedding=_embedding(event.query_embedding),
            embedding_model=_text(event.embedding_model),
        )


REQUEST_COLUMNS = tuple(RequestRow.__dataclass_fields__)


@dataclass(frozen=True)
class FeedbackRow:
    event_id: str
    request_id: str
    tenant_id: str
    rating: int
    has_correction: bool
    occurred_at: datetime

    @classmethod
    def from_event(cls, event: FeedbackGiven) -> FeedbackRow:
        return cls(
            event_id=event.event_id,
            request_id=event.request_id,
            tenant_id=event.tenant_id,
            rating=event.rating,
            has_correction=bool(event.corrected_answer),
            occurred_at=_utc(event.occurred_at),
        )


FEEDBACK_COLUMNS = tuple(FeedbackRow.__dataclass_fields__)
