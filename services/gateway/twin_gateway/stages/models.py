"""Stage `list_models`: the routes the caller's key may use (OpenAI /v1/models)."""

from __future__ import annotations

from twin_gateway.pipeline.context import RequestContext
from twin_gateway.pipeline.stage import Stage


class ListModelsStage(Stage):
    name = "list_models"

    def __init__(self, resources):
        self.resources = resources

    @classmethod
    def build(cls, resources) -> ListModelsStage:
        return cls(resources)

    async def run(self, ctx: RequestContext) -> None:
        router = self.resources.router
        ctx.result = [
            (name, router.route(name).description) for name in router.route_names if ctx.caller.may_use_route(name)
        ]
