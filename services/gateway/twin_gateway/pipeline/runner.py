"""The pipeline runner: runs a request's stages in order, streams the answer, and always finishes the request.

    async for text in pipeline.stream(ctx):   # pieces of the answer as they are generated
        ...
    # then ctx holds the final state: citations, usage, model, version, cache and guardrail outcomes

For operations without an answer stream (search, ingest...), `await pipeline.call(ctx)` runs the same way.

Rules the runner enforces, so no stage has to:
- a `GatewayError` raised by a stage ends the request with that error; stages marked `runs_on_error` (the request
  log) still run, then the error goes to the surface; any other exception becomes INTERNAL (logged with the
  request id, never shown to the caller);
- after `ctx.answer_early(...)` only stages marked `runs_after_early_answer` run; the early answer streams as one
  piece;
- when a stage leaves `ctx.token_stream` set (the generate stage), the runner drains it right after that stage,
  passing each piece through the `on_delta` hooks of the stages after it, and stops (closing the stream, which
  cancels the generation) when one of them retracts or when the caller goes away;
- cleanups registered with `ctx.add_cleanup` run at the end, whatever happened, even after a disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, StatusCode
from opentelemetry.trace import Status as SpanStatus

from twin_gateway.errors import Code, GatewayError
from twin_gateway.metrics import GatewayMetrics
from twin_gateway.pipeline.context import RequestContext, Status
from twin_gateway.pipeline.stage import Stage

log = logging.getLogger("twin_gateway.pipeline")
tracer = trace.get_tracer("twin_gateway")

# background tasks that finish requests whose caller went away (kept referenced until done)
_finishing: set[asyncio.Task] = set()


class Pipeline:
    def __init__(self, name: str, stages: Sequence[Stage], metrics: GatewayMetrics):
        self.name = name
        self.stages = list(stages)
        self.metrics = metrics

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    async def call(self, ctx: RequestContext) -> RequestContext:
        """Run a request to its end, collecting the answer (if any) into ctx.answer_text."""
        async for _ in self.stream(ctx):
            pass
        return ctx

    async def stream(self, ctx: RequestContext) -> AsyncIterator[str]:
        root = tracer.start_span(
            f"twin.{self.name}",
            attributes={
                "twin.request_id": ctx.request_id,
                "twin.operation": ctx.request.operation.value,
                "twin.surface": ctx.request.surface.value,
            },
        )
        root_context = trace.set_span_in_context(root)
        ctx.traceparent = _traceparent(root)
        index = 0
        finished = False
        try:
            while index < len(self.stages):
                stage = self.stages[index]
                if ctx.answered_early and not stage.runs_after_early_answer:
                    index += 1
                    continue
                answered_before = ctx.answered_early
                span = tracer.start_span(f"twin.stage.{stage.name}", context=root_context)
                started = time.perf_counter()
                try:
                    token = otel_context.attach(trace.set_span_in_context(span, root_context))
                    try:
                        await stage.run(ctx)
                    finally:
                        otel_context.detach(token)
                    if ctx.token_stream is not None:
                        drain = self._drain(ctx, index)
                        try:
                            async for text in drain:
                                yield text
                        finally:
                            await drain.aclose()  # at once, not at garbage collection: it stops the model
                except BaseException as exc:
                    _span_error(span, exc)
                    raise
                finally:
                    self._timed(ctx, stage.name, started)
                    _stage_attributes(span, ctx)
                    span.end()
                if ctx.answered_early and not answered_before and ctx.answer_text:
                    async for text in self._emit(ctx, index, ctx.answer_text, early=True):
                        yield text
                index += 1
            finished = True
        except GatewayError as exc:
            self._fail(ctx, exc)
            await self._finish(ctx, index + 1, root)
            finished = True
            raise
        except (asyncio.CancelledError, GeneratorExit) as exc:
            # the caller went away: finish (request log, cleanups) in the background, let the cancellation through
            self._fail(ctx, GatewayError(Code.CANCELLED, "the client went away"))
            _background(self._finish(ctx, index + 1, root))
            finished = True
            raise exc
        except Exception as exc:
            log.exception("request %s failed in stage %s", ctx.request_id, self._stage_name(index))
            error = GatewayError(Code.INTERNAL, f"internal error (request id {ctx.request_id})")
            self._fail(ctx, error)
            await self._finish(ctx, index + 1, root)
            finished = True
            raise error from exc
        finally:
            if not finished:  # an exception type not caught above (should not happen): still clean up
                _background(self._finish(ctx, len(self.stages), root))
        await self._run_cleanups(ctx)
        root.end()

    # --- streaming --------------------------------------------------------------------------------

    async def _drain(self, ctx: RequestContext, index: int) -> AsyncIterator[str]:
        """Pass the generation's pieces to the caller through the streaming hooks of the later stages."""
        stream = ctx.token_stream
        assert stream is not None
        try:
            async for piece in stream:
                now = time.perf_counter()
                if ctx.first_token_at is None:
                    ctx.first_token_at = now
                ctx.last_token_at = now
                ctx.answer_text += piece
                async for text in self._emit(ctx, index, piece):
                    yield text
                if ctx.retracted:
                    break
            if not ctx.retracted:
                for later in range(index + 1, len(self.stages)):
                    stage = self.stages[later]
                    if stage.streams:
                        tail = await stage.on_stream_end(ctx)
                        if tail:
                            async for text in self._emit(ctx, later, tail):
                                yield text
        finally:
            ctx.token_stream = None
            closer = getattr(stream, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()

    async def _emit(self, ctx: RequestContext, index: int, text: str, early: bool = False) -> AsyncIterator[str]:
        for later in range(index + 1, len(self.stages)):
            stage = self.stages[later]
            if not stage.streams or (early and not stage.runs_after_early_answer):
                continue
            text = await stage.on_delta(ctx, text)
            if ctx.retracted:
                return
        if text:
            yield text

    # --- the end of a request ---------------------------------------------------------------------

    def _fail(self, ctx: RequestContext, error: GatewayError) -> None:
        ctx.error = error
        if error.code == Code.FAILED_PRECONDITION:
            ctx.status = Status.BLOCKED
        elif ctx.status is not Status.RETRACTED:
            ctx.status = Status.ERROR

    async def _finish(self, ctx: RequestContext, start: int, root: Span) -> None:
        """After a failure: the stages that run on errors (the request log), then the cleanups."""
        try:
            for stage in self.stages[start:]:
                if not stage.runs_on_error:
                    continue
                started = time.perf_counter()
                try:
                    with trace.use_span(
                        tracer.start_span(f"twin.stage.{stage.name}", context=trace.set_span_in_context(root)),
                        end_on_exit=True,
                    ):
                        await stage.run(ctx)
                except Exception:
                    log.exception("stage %s failed while finishing request %s", stage.name, ctx.request_id)
                finally:
                    self._timed(ctx, stage.name, started)
        finally:
            await self._run_cleanups(ctx)
            if ctx.error is not None:
                _span_error(root, ctx.error)
            root.end()

    async def _run_cleanups(self, ctx: RequestContext) -> None:
        cleanups, ctx.cleanups = ctx.cleanups, []
        for cleanup in reversed(cleanups):
            try:
                await cleanup(ctx)
            except Exception:
                log.exception("cleanup failed for request %s", ctx.request_id)

    def _timed(self, ctx: RequestContext, stage: str, started: float) -> None:
        seconds = time.perf_counter() - started
        ctx.stage_latencies_ms[stage] = ctx.stage_latencies_ms.get(stage, 0.0) + seconds * 1000
        self.metrics.stage_latency.labels(stage).observe(seconds)

    def _stage_name(self, index: int) -> str:
        return self.stages[index].name if index < len(self.stages) else "end"


def _background(coro) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _finishing.add(task)
    task.add_done_callback(_finishing.discard)


def _span_error(span: Span, exc: BaseException) -> None:
    if isinstance(exc, GatewayError):
        span.set_attribute("twin.error_code", exc.code.value)
        if exc.code in (Code.CANCELLED,):
            return
    span.set_status(SpanStatus(StatusCode.ERROR, type(exc).__name__))


def _stage_attributes(span: Span, ctx: RequestContext) -> None:
    if ctx.caller is not None:
        span.set_attribute("twin.tenant_id", ctx.caller.tenant_id)
        span.set_attribute("twin.key_id", ctx.caller.key_id)
    span.set_attribute("twin.request_id", ctx.request_id)


def _traceparent(span: Span) -> str | None:
    sc = span.get_span_context()
    if not sc.is_valid:
        return None
    return f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{int(sc.trace_flags):02x}"
