"""Stage `import_urls` (the web app's "add by URL"): the ingest service fetches each URL and stores its text for
the caller's tenant; the report says what was stored and why each URL that was not, was not."""

from __future__ import annotations

from twin_gateway.pipeline.context import RequestContext
from twin_gateway.pipeline.stage import Stage
from twin_gateway.stages.documents import _call


class ImportUrlsStage(Stage):
    name = "import_urls"

    def __init__(self, resources):
        self.resources = resources

    @classmethod
    def build(cls, resources) -> ImportUrlsStage:
        return cls(resources)

    async def run(self, ctx: RequestContext) -> None:
        body = {"author": ctx.request.author, "urls": list(ctx.request.urls)}
        response = await _call(self.resources, "POST", f"/v1/tenants/{ctx.tenant_id}/urls", json=body)
        ctx.result = response.json()
