"""Metrics and spans of the rails: every outcome is counted by rail and decision, timed by rail, and becomes a span
`twin.guardrails.<rail>` with the decision, score and detail (never the text)."""

from __future__ import annotations

import time

from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Histogram
from twin_common.events import GuardrailOutcome

tracer = trace.get_tracer("twin_guardrails")
RAIL_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)


class GuardrailMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        self.outcomes = Counter(
            "twin_guardrails_outcomes",
            "Rail outcomes by rail (input.pii, retrieval.injection, output.toxicity...) and decision.",
            ["rail", "decision"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "twin_guardrails_rail_seconds",
            "Time one rail took on one text.",
            ["rail"],
            buckets=RAIL_BUCKETS,
            registry=self.registry,
        )


def record(metrics: GuardrailMetrics | None, outcome: GuardrailOutcome, started_ns: int | None = None) -> None:
    """Count the outcome and emit its span (started when the rail started, ended now), under the current span."""
    if metrics is not None:
        metrics.outcomes.labels(outcome.rail, outcome.decision).inc()
        metrics.latency.labels(outcome.rail).observe(outcome.latency_ms / 1000)
    end_ns = time.time_ns()
    start_ns = started_ns if started_ns is not None else end_ns - int(outcome.latency_ms * 1e6)
    span = tracer.start_span(f"twin.guardrails.{outcome.rail}", start_time=start_ns)
    span.set_attribute("twin.guardrail.rail", outcome.rail)
    span.set_attribute("twin.guardrail.decision", outcome.decision)
    if outcome.score is not None:
        span.set_attribute("twin.guardrail.score", round(outcome.score, 4))
    if outcome.detail:
        span.set_attribute("twin.guardrail.detail", outcome.detail)
    span.end(end_time=end_ns)
