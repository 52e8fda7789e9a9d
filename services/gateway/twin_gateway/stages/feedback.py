"""Stage `feedback`: a rating (and optional comment / corrected answer) of an earlier answer, published as
FeedbackGiven on `twin.feedback` with that answer's question and answer. The rated request must belong to the
caller's tenant: another tenant's request id gets the same NOT_FOUND as an unknown one."""

from __future__ import annotations

from twin_common.events import FeedbackGiven

from twin_gateway.errors import Code, GatewayError
from twin_gateway.pipeline.context import RequestContext
from twin_gateway.pipeline.stage import Stage


class FeedbackStage(Stage):
    name = "feedback"

    def __init__(self, resources):
        self.resources = resources

    @classmethod
    def build(cls, resources) -> FeedbackStage:
        return cls(resources)

    async def run(self, ctx: RequestContext) -> None:
        request = ctx.request
        try:
            record = await self.resources.records.get(request.rated_request_id)
        except Exception:  # noqa: BLE001
            raise GatewayError(Code.UNAVAILABLE, "the request store is unreachable, try again") from None
        if record is None or record.tenant_id != ctx.tenant_id:
            raise GatewayError(
                Code.NOT_FOUND,
                f"request_id: no answered request {request.rated_request_id!r} in your tenant "
                "(or it is older than the feedback window)",
                field="request_id",
            )
        event = FeedbackGiven(
            request_id=record.request_id,
            tenant_id=ctx.tenant_id,
            key_id=ctx.caller.key_id,
            rating=request.rating,
            comment=request.comment or None,
            corrected_answer=request.corrected_answer or None,
            question=record.question,
            answer=record.answer,
            model=record.model,
            model_version=record.model_version,
            traceparent=ctx.traceparent,
        )
        settings = self.resources.settings.request_log
        self.resources.events.publish(settings.feedback_topic, event, key=ctx.tenant_id)
        ctx.result = event.event_id
