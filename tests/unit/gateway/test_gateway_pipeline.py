"""The pipeline runner's rules, with stub stages: order, early answers, errors, streaming hooks, retraction,
a caller that goes away, and cleanups that always run."""

from __future__ import annotations

import asyncio

import pytest
from twin_common.events import GuardrailOutcome
from twin_gateway.errors import Code, GatewayError
from twin_gateway.metrics import GatewayMetrics
from twin_gateway.pipeline.context import GatewayRequest, Operation, RequestContext, Status, Surface
from twin_gateway.pipeline.runner import Pipeline
from twin_gateway.pipeline.stage import Stage


def _ctx() -> RequestContext:
    return RequestContext(GatewayRequest(Operation.ASK, Surface.REST, question="q"), credentials=None, prompt_text="q")


class Recorder(Stage):
    def __init__(self, name: str, log: list[str], **flags):
        self.name = name  # instance attribute on purpose: many recorders in one pipeline
        self.log = log
        self.runs_after_early_answer = flags.get("after_early", False)
        self.runs_on_error = flags.get("on_error", False)

    async def run(self, ctx):
        self.log.append(self.name)


class Generate(Stage):
    name = "generate"

    def __init__(self, pieces, log, closed: list):
        self.pieces, self.log, self.closed = pieces, log, closed

    async def run(self, ctx):
        self.log.append("generate")

        async def stream():
            try:
                for piece in self.pieces:
                    await asyncio.sleep(0)
                    yield piece
            finally:
                self.closed.append(True)

        ctx.token_stream = stream()


class Upper(Stage):
    """An output stage that transforms each piece and sees the growing answer."""

    name = "upper"

    def __init__(self, seen: list):
        self.seen = seen

    async def on_delta(self, ctx, delta):
        self.seen.append(ctx.answer_text)
        return delta.upper()

    async def on_stream_end(self, ctx):
        return "!"


class Retractor(Stage):
    name = "retract"

    async def on_delta(self, ctx, delta):
        if "bad" in ctx.answer_text:
            ctx.retract(GuardrailOutcome(rail="output.test", decision="retract"))
        return delta


class Fails(Stage):
    name = "fails"

    async def run(self, ctx):
        raise GatewayError(Code.RESOURCE_EXHAUSTED, "no more", retry_after_s=2)


class Cleans(Stage):
    name = "cleans"

    def __init__(self, log):
        self.log = log

    async def run(self, ctx):
        async def cleanup(ctx):
            self.log.append(f"cleanup:{ctx.status.value}")

        ctx.add_cleanup(cleanup)


async def collect(pipeline, ctx):
    return [text async for text in pipeline.stream(ctx)]


async def test_stages_run_in_order_and_later_stages_transform_the_stream():
    log, closed, seen = [], [], []
    stages = [Recorder("auth", log), Generate(["a", "b"], log, closed), Upper(seen), Recorder("log", log)]
    ctx = _ctx()
    out = await collect(Pipeline("ask", stages, GatewayMetrics()), ctx)
    assert out == ["A", "B", "!"]
    assert ctx.answer_text == "ab"  # the model's text, before transformation
    assert seen == ["a", "ab"]
    assert log == ["auth", "generate", "log"]
    assert closed == [True]
    assert set(ctx.stage_latencies_ms) == {"auth", "generate", "upper", "log"}
    assert ctx.first_token_at is not None and ctx.status is Status.OK


async def test_an_early_answer_skips_the_rest_but_the_stages_marked_to_run_after_it():
    log, closed = [], []

    class Cache(Stage):
        name = "cache"

        async def run(self, ctx):
            ctx.answer_early("cached answer")

    stages = [Cache(), Generate(["x"], log, closed), Recorder("fill", log), Recorder("log", log, after_early=True)]
    ctx = _ctx()
    assert await collect(Pipeline("ask", stages, GatewayMetrics()), ctx) == ["cached answer"]
    assert log == ["log"]
    assert closed == []


async def test_an_error_runs_the_error_stages_and_the_cleanups_then_reaches_the_caller():
    log = []
    stages = [Cleans(log), Fails(), Recorder("generate", log), Recorder("log", log, on_error=True)]
    ctx = _ctx()
    with pytest.raises(GatewayError) as raised:
        await collect(Pipeline("ask", stages, GatewayMetrics()), ctx)
    assert raised.value.code is Code.RESOURCE_EXHAUSTED
    assert log == ["log", "cleanup:error"]
    assert ctx.error is raised.value


async def test_an_unexpected_exception_becomes_internal_without_its_text():
    class Broken(Stage):
        name = "broken"

        async def run(self, ctx):
            raise ValueError("secret detail")

    ctx = _ctx()
    with pytest.raises(GatewayError) as raised:
        await collect(Pipeline("ask", [Broken()], GatewayMetrics()), ctx)
    assert raised.value.code is Code.INTERNAL
    assert "secret" not in raised.value.message and ctx.request_id in raised.value.message


async def test_a_retraction_ends_the_stream_and_closes_the_generation():
    log, closed = [], []
    stages = [Generate(["ok ", "bad ", "more ", "text"], log, closed), Retractor(), Recorder("log", log)]
    ctx = _ctx()
    out = await collect(Pipeline("ask", stages, GatewayMetrics()), ctx)
    assert out == ["ok "]
    assert ctx.retracted and ctx.status is Status.RETRACTED and ctx.finish_reason == "content_filter"
    assert closed == [True]
    assert ctx.guardrails[0].decision == "retract"


async def test_a_caller_that_goes_away_stops_the_generation_and_the_request_still_finishes():
    log, closed = [], []
    stages = [Cleans(log), Generate([f"p{i}" for i in range(100)], log, closed), Recorder("log", log, on_error=True)]
    ctx = _ctx()
    stream = Pipeline("ask", stages, GatewayMetrics()).stream(ctx)
    assert await anext(stream) == "p0"
    await stream.aclose()  # what a server does when the client disconnects
    for _ in range(50):
        if "cleanup:error" in log:
            break
        await asyncio.sleep(0.01)
    assert closed == [True]
    assert log[-2:] == ["log", "cleanup:error"]
    assert ctx.error.code is Code.CANCELLED
