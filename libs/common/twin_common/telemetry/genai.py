"""Spans and metrics of model calls, after the OpenTelemetry GenAI semantic conventions.

A model server (twin-inference) wraps each generation, embedding or rerank call; a client (the gateway) can
use the same helper with kind=CLIENT around its call to the model server:

    with model_call("chat", "twin-llm", params={"max_tokens": 64, "temperature": 0.0}) as call:
        ...                                  # generate
        call.first_token()                   # when the first piece of text is out (streaming)
        call.finish(input_tokens=12, output_tokens=40, finish_reason="stop", response_model="twin-llm", version="3")

Span: `<gen_ai.operation.name> <gen_ai.request.model>` with gen_ai.provider.name, gen_ai.request.*,
gen_ai.usage.input_tokens / output_tokens, gen_ai.response.finish_reasons; our own attributes under `twin.`.
Metrics (Prometheus, default registry): gen_ai_server_request_duration_seconds,
gen_ai_server_time_to_first_token_seconds, gen_ai_server_time_per_output_token_seconds, twin_model_tokens_total.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram

from twin_common.telemetry.metrics import DURATION_BUCKETS

tracer = trace.get_tracer("twin_common.telemetry.genai")

PROVIDER = "twin"  # gen_ai.provider.name of the platform's own model server
_REQUEST_PARAMS = {
    "max_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "seed": "gen_ai.request.seed",
    "stop": "gen_ai.request.stop_sequences",
}
_LABELS = ["gen_ai_operation_name", "gen_ai_request_model", "error_type"]

REQUEST_DURATION = Histogram(
    "gen_ai_server_request_duration_seconds",
    "Duration of model calls served (gen_ai.server.request.duration)",
    _LABELS,
    buckets=DURATION_BUCKETS,
)
TIME_TO_FIRST_TOKEN = Histogram(
    "gen_ai_server_time_to_first_token_seconds",
    "Time to the first generated token (gen_ai.server.time_to_first_token)",
    ["gen_ai_operation_name", "gen_ai_request_model"],
    buckets=DURATION_BUCKETS,
)
TIME_PER_OUTPUT_TOKEN = Histogram(
    "gen_ai_server_time_per_output_token_seconds",
    "Time per output token after the first (gen_ai.server.time_per_output_token)",
    ["gen_ai_operation_name", "gen_ai_request_model"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0),
)
TOKENS = Counter(
    "twin_model_tokens", "Tokens read and written by model calls", ["gen_ai_request_model", "gen_ai_token_type"]
)


class ModelCall:
    """One model call in progress: note the first token and the outcome."""

    def __init__(self, span: trace.Span, operation: str, model: str):
        self.span = span
        self.operation = operation
        self.model = model
        self.started = time.perf_counter()
        self.first_token_at: float | None = None
        self.output_tokens = 0

    def first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
            self.span.add_event("gen_ai.first_token")
            TIME_TO_FIRST_TOKEN.labels(self.operation, self.model).observe(self.first_token_at - self.started)

    def finish(
        self,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        finish_reason: str | None = None,
        response_model: str | None = None,
        version: str | None = None,
        **twin_attributes: Any,
    ) -> None:
        span = self.span
        if input_tokens is not None:
            span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
            TOKENS.labels(self.model, "input").inc(input_tokens)
        if output_tokens is not None:
            self.output_tokens = output_tokens
            span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
            TOKENS.labels(self.model, "output").inc(output_tokens)
        if finish_reason:
            span.set_attribute("gen_ai.response.finish_reasons", [finish_reason])
        if response_model:
            span.set_attribute("gen_ai.response.model", response_model)
        if version is not None:
            span.set_attribute("twin.model.version", str(version))
        for key, value in twin_attributes.items():
            if value is not None:
                span.set_attribute(f"twin.{key}", value)


@contextmanager
def model_call(
    operation: str,
    model: str,
    *,
    params: Mapping[str, Any] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    provider: str = PROVIDER,
    current: bool = True,
) -> Iterator[ModelCall]:
    """A model-call span (the current span inside, unless current=False: an async generator that yields while
    the call runs must not hold the current context across its yields)."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
    }
    for key, value in (params or {}).items():
        if key in _REQUEST_PARAMS and value is not None and value != ():
            attributes[_REQUEST_PARAMS[key]] = list(value) if isinstance(value, list | tuple) else value
    span = tracer.start_span(f"{operation} {model}", kind=kind, attributes=attributes)
    call = ModelCall(span, operation, model)
    error: BaseException | None = None
    try:
        if current:
            with trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
                yield call
        else:
            yield call
    except BaseException as exc:
        error = exc
        if not isinstance(exc, GeneratorExit):
            span.record_exception(exc)
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
        raise
    finally:
        ended = time.perf_counter()
        error_type = type(error).__name__ if error is not None and not isinstance(error, GeneratorExit) else ""
        REQUEST_DURATION.labels(operation, model, error_type).observe(ended - call.started)
        if call.first_token_at is not None and call.output_tokens > 1:
            TIME_PER_OUTPUT_TOKEN.labels(operation, model).observe(
                (ended - call.first_token_at) / (call.output_tokens - 1)
            )
        span.end()


def generation_attributes(params: Any) -> dict[str, Any]:
    """gen_ai.request.* attributes of a generation's sampling parameters (an object or a mapping)."""
    values = params if isinstance(params, Mapping) else vars(params) if hasattr(params, "__dict__") else {}
    if not values and hasattr(params, "__dataclass_fields__"):
        values = {name: getattr(params, name) for name in params.__dataclass_fields__}
    attributes: dict[str, Any] = {}
    for key, name in _REQUEST_PARAMS.items():
        value = values.get(key)
        if value is None or value == () or value == []:
            continue
        attributes[name] = list(value) if isinstance(value, list | tuple) else value
    return attributes
