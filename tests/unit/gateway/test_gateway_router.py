"""The model router with stub endpoints: retries only on retryable errors, fallback in order, the breaker opens
after N failures, refuses at once while open, and closes again after a good half-open probe."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from twin_gateway.errors import Code, GatewayError
from twin_gateway.metrics import GatewayMetrics
from twin_gateway.pipeline.context import GatewayRequest, Generation, Operation, RequestContext, Surface
from twin_gateway.router.endpoints import EndpointError, ModelEndpoint, Piece, Sampling
from twin_gateway.router.router import ModelRouter
from twin_gateway.router.routes import RoutesConfig

SAMPLING = Sampling(max_tokens=8, temperature=0.0)


class StubEndpoint(ModelEndpoint):
    def __init__(self, name, config, behaviour):
        super().__init__(name, config)
        self.behaviour = behaviour  # "ok" | "down" | "invalid" | "error" | "slow"
        self.calls = 0

    async def stream(self, messages, sampling):
        self.calls += 1
        if self.behaviour == "down":
            raise EndpointError("connection refused", retryable=True, kind="unavailable")
        if self.behaviour == "invalid":
            raise EndpointError("prompt too long", invalid=True, kind="invalid")
        if self.behaviour == "error":
            raise EndpointError("model crashed", kind="error")
        if self.behaviour == "slow":
            await asyncio.sleep(10)
        for word in ("hello", " world"):
            yield Piece(text=word, model_version="v7")
        yield Piece(text="", finish_reason="stop", prompt_tokens=3, completion_tokens=2, model_version="v7")


def make_router(primary="ok", fallback="ok", *, retries=2, failures=2, reset_s=0.3, timeout_s=5.0):
    config = RoutesConfig.model_validate(
        {
            "default_route": "twin",
            "endpoints": {
                "primary": {
                    "url": "x",
                    "model": "model-a",
                    "timeout_s": timeout_s,
                    "breaker": {"failures": failures, "reset_s": reset_s},
                },
                "fallback": {"url": "y", "model": "model-b"},
            },
            "routes": {"twin": {"endpoints": ["primary", "fallback"], "retries": retries, "backoff_s": 0.001}},
        }
    )
    metrics = GatewayMetrics()
    router = ModelRouter(config, ThreadPoolExecutor(1), metrics)
    router.endpoints = {
        "primary": StubEndpoint("primary", config.endpoints["primary"], primary),
        "fallback": StubEndpoint("fallback", config.endpoints["fallback"], fallback),
    }
    return router, metrics


async def answer(router) -> RequestContext:
    ctx = RequestContext(GatewayRequest(Operation.ASK, Surface.REST, question="q"), credentials=None)
    stream = await router.open(ctx, "twin", [{"role": "user", "content": "q"}], SAMPLING)
    ctx.answer_text = "".join([piece async for piece in stream])
    return ctx


async def test_the_primary_answers_and_names_itself():
    router, _ = make_router()
    ctx = await answer(router)
    assert ctx.answer_text == "hello world"
    assert (ctx.model, ctx.model_version, ctx.endpoint, ctx.fallbacks) == ("model-a", "v7", "primary", 0)
    assert (ctx.prompt_tokens, ctx.completion_tokens, ctx.finish_reason) == (3, 2, "stop")


async def test_a_retryable_failure_is_retried_then_falls_back():
    router, metrics = make_router(primary="down", retries=2)
    ctx = await answer(router)
    assert ctx.model == "model-b" and ctx.fallbacks == 1
    assert router.endpoints["primary"].calls == 2  # the breaker (2 failures) opened before the third try
    assert metrics.fallbacks.labels("twin", "primary", "breaker_open")._value.get() == 1


async def test_a_non_retryable_failure_falls_back_without_retry():
    router, _ = make_router(primary="error", failures=10)
    ctx = await answer(router)
    assert ctx.model == "model-b" and router.endpoints["primary"].calls == 1


async def test_an_invalid_request_is_the_callers_error_and_not_a_breaker_failure():
    router, _ = make_router(primary="invalid", failures=1)
    with pytest.raises(GatewayError) as raised:
        await answer(router)
    assert raised.value.code is Code.INVALID_ARGUMENT
    assert (await router.breaker_states())["primary"] == "closed"
    assert router.endpoints["fallback"].calls == 0


async def test_every_endpoint_down_is_unavailable():
    router, _ = make_router(primary="down", fallback="down", retries=0, failures=100)
    with pytest.raises(GatewayError) as raised:
        await answer(router)
    assert raised.value.code is Code.UNAVAILABLE and "primary" in raised.value.message


async def test_no_first_token_within_the_endpoint_timeout_falls_back():
    router, _ = make_router(primary="slow", retries=0, timeout_s=0.2, failures=100)
    ctx = await answer(router)
    assert ctx.model == "model-b"


async def test_the_breaker_opens_skips_the_endpoint_then_closes_after_a_good_probe():
    router, metrics = make_router(primary="down", retries=0, failures=2, reset_s=0.3)
    for _ in range(2):
        assert (await answer(router)).model == "model-b"
    assert (await router.breaker_states())["primary"] == "opened"
    assert metrics.breaker_state.labels("primary")._value.get() == 2
    calls = router.endpoints["primary"].calls
    assert (await answer(router)).model == "model-b"
    assert router.endpoints["primary"].calls == calls  # open: not even tried
    router.endpoints["primary"].behaviour = "ok"  # the endpoint comes back
    await asyncio.sleep(0.35)
    ctx = await answer(router)  # the half-open probe
    assert ctx.model == "model-a"
    assert (await router.breaker_states())["primary"] == "closed"
    assert metrics.breaker_state.labels("primary")._value.get() == 0


def test_route_resolution_and_sampling_defaults():
    router, _ = make_router()
    assert router.resolve(None) == "twin"
    with pytest.raises(GatewayError) as raised:
        router.resolve("gpt-9")
    assert raised.value.field == "model" and "twin" in raised.value.message
    sampling = router.sampling("twin", Generation(max_tokens=None, temperature=None))
    assert sampling.max_tokens == 256 and sampling.temperature == 0.0


def test_routes_config_refuses_unknown_endpoints_and_default():
    with pytest.raises(ValueError, match="unknown endpoints"):
        RoutesConfig.model_validate({"default_route": "a", "endpoints": {}, "routes": {"a": {"endpoints": ["nope"]}}})
    with pytest.raises(ValueError, match="default_route"):
        RoutesConfig.model_validate(
            {"default_route": "b", "endpoints": {"e": {"url": "x"}}, "routes": {"a": {"endpoints": ["e"]}}}
        )
