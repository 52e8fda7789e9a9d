"""Prometheus metrics of the gateway (served on /metrics), one registry per gateway instance."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
STAGE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120)
TPOT_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28)
TOKEN_BUCKETS = (1, 4, 16, 64, 128, 256, 512, 1024, 2048, 4096)

# Circuit breaker state as a number (the gauge's value).
BREAKER_STATES = {"closed": 0, "half-opened": 1, "opened": 2}


T = TypeVar("T")


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        self._components: dict[str, object] = {}
        r = self.registry
        self.requests = Counter(
            "twin_gateway_requests",
            "Requests by surface, operation and outcome code.",
            ["surface", "operation", "code"],
            registry=r,
        )
        self.errors = Counter(
            "twin_gateway_errors",
            "Failed requests by surface, operation and error code.",
            ["surface", "operation", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "twin_gateway_request_seconds",
            "End-to-end request latency inside the gateway.",
            ["surface", "operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stage_latency = Histogram(
            "twin_gateway_stage_seconds",
            "Time spent in each pipeline stage.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "twin_gateway_ttft_seconds",
            "Time from a request's arrival to its first generated token.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tpot = Histogram(
            "twin_gateway_tpot_seconds",
            "Time per output token after the first.",
            ["route"],
            buckets=TPOT_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "twin_gateway_tokens", "Tokens by kind (prompt, completion) and route.", ["kind", "route"], registry=r
        )
        self.tokens_per_request = Histogram(
            "twin_gateway_completion_tokens",
            "Completion tokens per answer.",
            ["route"],
            buckets=TOKEN_BUCKETS,
            registry=r,
        )
        self.fallbacks = Counter(
            "twin_gateway_fallbacks",
            "Model endpoints given up on for the next one.",
            ["route", "endpoint", "reason"],
            registry=r,
        )
        self.endpoint_errors = Counter(
            "twin_gateway_endpoint_errors", "Failed attempts on a model endpoint.", ["endpoint", "kind"], registry=r
        )
        self.breaker_state = Gauge(
            "twin_gateway_breaker_state",
            "Circuit breaker per endpoint: 0 closed, 1 half-open, 2 open.",
            ["endpoint"],
            registry=r,
        )
        self.quota_rejections = Counter(
            "twin_gateway_quota_rejections", "Requests refused by a quota.", ["limit"], registry=r
        )
        self.events_sent = Counter("twin_gateway_events_sent", "Events delivered to Kafka.", ["topic"], registry=r)
        self.events_dropped = Counter(
            "twin_gateway_events_dropped",
            "Events dropped (buffer full while Kafka was unreachable).",
            ["topic"],
            registry=r,
        )
        self.events_buffered = Gauge("twin_gateway_events_buffered", "Events waiting for Kafka.", registry=r)
        self.cache = Counter(
            "twin_gateway_cache", "Answers by cache outcome (none, exact, semantic).", ["kind"], registry=r
        )
        self.guardrails = Counter(
            "twin_gateway_guardrail_decisions",
            "Guardrail decisions by rail and decision.",
            ["rail", "decision"],
            registry=r,
        )

    def component(self, name: str, factory: Callable[[CollectorRegistry], T]) -> T:
        """The metrics of a plugged-in component (rails, cache) on this registry, made once: a runtime started
        again (the app's lifespan runs per test client) must not register the same series twice."""
        if name not in self._components:
            self._components[name] = factory(self.registry)
        return self._components[name]  # type: ignore[return-value]
