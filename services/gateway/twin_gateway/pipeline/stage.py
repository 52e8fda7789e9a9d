"""The interface every pipeline stage implements.

A stage is one module under `twin_gateway/stages/` with one class:

    class QuotaStage(Stage):
        name = "quota"

        @classmethod
        def build(cls, resources: Resources) -> QuotaStage | None:   # None: switched off by its settings
            return cls(resources.quotas)

        async def run(self, ctx: RequestContext) -> None:
            ...   # read and enrich ctx; raise GatewayError to refuse; ctx.answer_early(...) to answer now

and one line in `pipeline/order.py`. The runner gives every stage a span named `twin.stage.<name>` (add
attributes with `ctx` helpers or `trace.get_current_span()`), times it into `ctx.stage_latencies_ms[name]` and
the `twin_gateway_stage_seconds{stage=...}` histogram, and puts the stage's `ctx.log_fields` in the log line.

Stages after `generate` see the answer in two ways: `on_delta` is called for every piece of text as it streams
(output rails inspect the growing `ctx.answer_text`, may transform the piece - e.g. unmask - or call
`ctx.retract(...)` to end the stream), then `run` is called once on the whole answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from twin_gateway.pipeline.context import RequestContext

if TYPE_CHECKING:
    from twin_gateway.resources import Resources


class Stage:
    name: ClassVar[str] = "stage"
    # A stage that still runs when an earlier stage answered early (cache hit / fixed reply): e.g. the request log.
    runs_after_early_answer: ClassVar[bool] = False
    # A stage that still runs when an earlier stage failed or the client went away: e.g. the request log.
    runs_on_error: ClassVar[bool] = False

    @classmethod
    def build(cls, resources: Resources) -> Stage | None:
        """Make the stage from the gateway's shared resources; None leaves it out of the pipeline."""
        return cls()

    async def run(self, ctx: RequestContext) -> None:
        """The stage's work on one request."""
        return None

    async def on_delta(self, ctx: RequestContext, delta: str) -> str:
        """A piece of generated text on its way to the caller (only stages after `generate` see it). Return the
        text to pass on (the same piece, a transformed one, or "" to hold it back); `ctx.answer_text` already
        holds everything the model produced so far, including this piece."""
        return delta

    async def on_stream_end(self, ctx: RequestContext) -> str:
        """The model finished: return any text held back by `on_delta` (default none)."""
        return ""

    async def start(self) -> None:
        """Called once when the gateway starts (open clients, warm models)."""
        return None

    async def close(self) -> None:
        """Called once when the gateway stops."""
        return None

    @property
    def streams(self) -> bool:
        """Whether this stage overrides the streaming hooks (the runner skips the others per piece)."""
        cls = type(self)
        return cls.on_delta is not Stage.on_delta or cls.on_stream_end is not Stage.on_stream_end
