"""The model router: a route's endpoints in order (primary, then fallbacks), each behind a circuit breaker
(purgatory: open after N consecutive failures, half-open after `reset_s`, closed by a success), retried with
backoff on retryable errors only (tenacity), with a timeout for the first piece and for the whole answer.

A fallback happens before the first piece of text reaches the caller; once text has streamed, a failure ends
the answer with UNAVAILABLE (nothing is sent twice).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import Executor

from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from twin_gateway.errors import Code, GatewayError
from twin_gateway.metrics import BREAKER_STATES, GatewayMetrics
from twin_gateway.pipeline.context import Generation, RequestContext
from twin_gateway.router.endpoints import EndpointError, ModelEndpoint, Piece, Sampling, build_endpoint
from twin_gateway.router.routes import RouteConfig, RoutesConfig

log = logging.getLogger(__name__)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, EndpointError) and exc.retryable


class ModelRouter:
    def __init__(
        self,
        config: RoutesConfig,
        executor: Executor,
        metrics: GatewayMetrics,
        service_headers: dict[str, str] | None = None,
    ):
        self.config = config
        self.metrics = metrics
        self.endpoints: dict[str, ModelEndpoint] = {
            name: build_endpoint(name, cfg, executor, service_headers or {}) for name, cfg in config.endpoints.items()
        }
        # An invalid request (too long a prompt) says nothing about the endpoint's health: not a breaker failure.
        self.breakers = AsyncCircuitBreakerFactory(exclude=[(EndpointError, lambda exc: exc.invalid)])
        self.breakers.add_listener(self._breaker_event)
        for name in self.endpoints:
            metrics.breaker_state.labels(name).set(BREAKER_STATES["closed"])

    # --- routes -----------------------------------------------------------------------------------

    @property
    def route_names(self) -> list[str]:
        return list(self.config.routes)

    def route(self, name: str) -> RouteConfig:
        return self.config.routes[name]

    def resolve(self, requested: str | None) -> str:
        name = requested or self.config.default_route
        if name not in self.config.routes:
            raise GatewayError(
                Code.INVALID_ARGUMENT,
                f"model: unknown route {name!r}; known routes: {', '.join(self.route_names)}",
                field="model",
                reason="model_not_found",
            )
        return name

    def sampling(self, route_name: str, generation: Generation) -> Sampling:
        route = self.route(route_name)
        return Sampling(
            max_tokens=generation.max_tokens or route.max_tokens,
            temperature=route.temperature if generation.temperature is None else generation.temperature,
            top_p=1.0 if generation.top_p is None else generation.top_p,
            stop=generation.stop,
        )

    async def breaker_states(self) -> dict[str, str]:
        states = {}
        for name, cfg in self.config.endpoints.items():
            breaker = await self.breakers.get_breaker(name, cfg.breaker.failures, cfg.breaker.reset_s)
            states[name] = breaker.context.state
        return states

    # --- generation -------------------------------------------------------------------------------

    async def open(self, ctx: RequestContext, route_name: str, messages: list[dict[str, str]], sampling: Sampling):
        """The answer's text as an async iterator, from the first endpoint of the route that starts answering;
        fills ctx.model / model_version / endpoint / tokens / finish_reason / fallbacks as it goes."""
        route = self.route(route_name)
        deadline = time.monotonic() + route.timeout_s
        failures: list[str] = []
        for name in route.endpoints:
            endpoint = self.endpoints[name]
            try:
                stream, first = await self._start(endpoint, route, messages, sampling, deadline)
            except OpenedState:
                failures.append(f"{name}: circuit open")
                reason = "breaker_open"
            except EndpointError as exc:
                if exc.invalid:
                    raise GatewayError(Code.INVALID_ARGUMENT, f"the model refused the request: {exc}") from None
                failures.append(f"{name}: {exc.kind}")
                reason = exc.kind
            else:
                ctx.endpoint = name
                ctx.model = endpoint.config.model
                return self._relay(ctx, endpoint, route, stream, first, deadline)
            ctx.fallbacks += 1
            self.metrics.fallbacks.labels(route_name, name, reason).inc()
            if time.monotonic() >= deadline:
                break
        raise GatewayError(
            Code.UNAVAILABLE,
            f"no model endpoint of route {route_name!r} could answer ({'; '.join(failures)}); try again later",
            reason="no_endpoint",
            retry_after_s=1,
        )

    async def _start(
        self,
        endpoint: ModelEndpoint,
        route: RouteConfig,
        messages: list[dict[str, str]],
        sampling: Sampling,
        deadline: float,
    ) -> tuple[AsyncIterator[Piece], Piece | None]:
        """Open a stream and wait for its first piece, retrying retryable failures with backoff."""
        cfg = endpoint.config
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(route.retries + 1),
            wait=wait_exponential_jitter(initial=route.backoff_s, max=2.0, jitter=route.backoff_s),
            retry=retry_if_exception(_retryable),
            reraise=True,
        ):
            with attempt:
                breaker = await self.breakers.get_breaker(endpoint.name, cfg.breaker.failures, cfg.breaker.reset_s)
                async with breaker:
                    stream = endpoint.stream(messages, sampling)
                    timeout = max(0.001, min(cfg.timeout_s, deadline - time.monotonic()))
                    try:
                        first = await asyncio.wait_for(anext(stream), timeout)
                    except StopAsyncIteration:
                        first = None
                    except TimeoutError:
                        await _close(stream)
                        self.metrics.endpoint_errors.labels(endpoint.name, "timeout").inc()
                        raise EndpointError(
                            f"no first token within {timeout:.1f} s", retryable=True, kind="timeout"
                        ) from None
                    except EndpointError as exc:
                        await _close(stream)
                        self.metrics.endpoint_errors.labels(endpoint.name, exc.kind).inc()
                        raise
                    return stream, first
        raise AssertionError("unreachable")

    async def _relay(
        self,
        ctx: RequestContext,
        endpoint: ModelEndpoint,
        route: RouteConfig,
        stream: AsyncIterator[Piece],
        first: Piece | None,
        deadline: float,
    ) -> AsyncIterator[str]:
        try:
            piece = first
            while piece is not None:
                if piece.model_version:
                    ctx.model_version = piece.model_version
                if piece.prompt_tokens is not None:
                    ctx.prompt_tokens = piece.prompt_tokens
                if piece.completion_tokens is not None:
                    ctx.completion_tokens = piece.completion_tokens
                if piece.finish_reason:
                    ctx.finish_reason = piece.finish_reason
                if piece.text:
                    yield piece.text
                if piece.finish_reason:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    ctx.finish_reason = "length"
                    raise GatewayError(
                        Code.DEADLINE_EXCEEDED,
                        f"the answer took longer than the route's {route.timeout_s:.0f} s",
                        reason="route_timeout",
                    )
                try:
                    piece = await asyncio.wait_for(anext(stream), remaining)
                except StopAsyncIteration:
                    piece = None
                except TimeoutError:
                    raise GatewayError(
                        Code.DEADLINE_EXCEEDED,
                        f"the answer took longer than the route's {route.timeout_s:.0f} s",
                        reason="route_timeout",
                    ) from None
                except EndpointError as exc:
                    self.metrics.endpoint_errors.labels(endpoint.name, exc.kind).inc()
                    await self._record_failure(endpoint, exc)
                    raise GatewayError(
                        Code.UNAVAILABLE, f"the model endpoint failed mid-answer ({exc.kind})", reason="endpoint_failed"
                    ) from None
            ctx.finish_reason = ctx.finish_reason or "stop"
        finally:
            await _close(stream)

    async def _record_failure(self, endpoint: ModelEndpoint, exc: Exception) -> None:
        cfg = endpoint.config
        try:
            breaker = await self.breakers.get_breaker(endpoint.name, cfg.breaker.failures, cfg.breaker.reset_s)
            async with breaker:
                raise exc
        except Exception:  # noqa: BLE001 - recorded; the caller raises its own error
            pass

    def _breaker_event(self, name: str, event_name: str, event) -> None:
        if event_name == "state_changed":
            self.metrics.breaker_state.labels(name).set(BREAKER_STATES.get(event.state, -1))
            log.warning("circuit breaker of endpoint %s is now %s", name, event.state)

    async def close(self) -> None:
        for endpoint in self.endpoints.values():
            try:
                await endpoint.close()
            except Exception:  # noqa: BLE001
                log.exception("closing endpoint %s failed", endpoint.name)


async def _close(stream) -> None:
    closer = getattr(stream, "aclose", None)
    if closer is not None:
        try:
            await closer()
        except Exception:  # noqa: BLE001
            pass
