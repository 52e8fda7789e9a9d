"""Stage `model_versions` (the web app's Models page): the registered model versions the caller's tenant may see,
or one version's gate table, training curves and dataset sizes (twin_gateway/mlflow_view.py)."""

from __future__ import annotations

from twin_gateway.mlflow_view import MlflowView
from twin_gateway.pipeline.context import RequestContext
from twin_gateway.pipeline.stage import Stage


class ModelVersionsStage(Stage):
    name = "model_versions"

    def __init__(self, view: MlflowView):
        self.view = view

    @classmethod
    def build(cls, resources) -> ModelVersionsStage | None:
        settings = resources.settings.webapp
        if not settings.enabled:
            return None
        return cls(MlflowView.open(settings))

    async def close(self) -> None:
        await self.view.close()

    async def run(self, ctx: RequestContext) -> None:
        request = ctx.request
        if request.model_name:
            ctx.result = await self.view.version(ctx.tenant_id, request.model_name, request.model_version)
        else:
            ctx.result = {"models": await self.view.models(ctx.tenant_id), "mlflow_url": self.view.ui_url}
