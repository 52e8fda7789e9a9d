"""What the web app's Models page shows, read from MLflow's REST API (no mlflow import in the gateway).

    registered models -> their versions with aliases (champion / challenger ...), the twin.* tags the trainer
    sets on a version (tenant, author, variant, gate decision, pipeline / sft / dpo run ids)
    one version       -> the gate table (evaluation/table.json of the pipeline run), the training curves (loss per
                         step of the sft and dpo runs), the dataset size after each curation step
                         (dataset/curation_report.json, else the dataset.* metrics), links to the MLflow UI

Tenancy: a version tagged `twin.tenant` is shown to that tenant only; versions without the tag are the
platform's (embedder, reranker, base model) and shown to every tenant.
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import quote

import httpx

from twin_gateway.errors import Code, GatewayError

log = logging.getLogger(__name__)

TENANT_TAG = "twin.tenant"
CURVE_METRICS = ("loss", "eval_loss")
RUN_TAGS = {"pipeline": "twin.pipeline_run_id", "sft": "twin.sft_run_id", "dpo": "twin.dpo_run_id"}
SHOWN_TAGS = ("twin.author", "twin.variant", "twin.gate", "twin.base_model", "twin.format", "twin.dataset_digest")


def _tags(items: list[dict] | None) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in items or []}


def visible(tags: dict[str, str], tenant_id: str) -> bool:
    return tags.get(TENANT_TAG, tenant_id) == tenant_id


class MlflowView:
    def __init__(self, client: httpx.AsyncClient, ui_url: str):
        self.client = client
        self.ui_url = ui_url.rstrip("/")

    @classmethod
    def open(cls, settings) -> MlflowView:
        """From WebAppSettings: the REST address, the browsers' address, basic auth when MLflow has it."""
        auth = None
        if settings.mlflow_username and settings.mlflow_password:
            auth = httpx.BasicAuth(settings.mlflow_username, settings.mlflow_password.get_secret_value())
        client = httpx.AsyncClient(
            base_url=settings.mlflow_url.rstrip("/"),
            timeout=settings.upstream_timeout_s,
            auth=auth,
            limits=httpx.Limits(keepalive_expiry=2.0),  # before MLflow's server (uvicorn: 5 s) closes an idle one
        )
        return cls(client, settings.mlflow_ui_url or settings.mlflow_url)

    async def close(self) -> None:
        await self.client.aclose()

    async def _get(self, path: str, **params) -> dict:
        try:
            response = await self.client.get(path, params=params)
        except httpx.HTTPError as exc:
            log.warning("MLflow unreachable: %r", exc)
            raise GatewayError(Code.UNAVAILABLE, "the model registry (MLflow) is unreachable, try again") from None
        if response.status_code in (401, 403) or response.status_code >= 500:
            log.warning("MLflow answered %d to %s", response.status_code, path)
            raise GatewayError(Code.UNAVAILABLE, f"the model registry answered {response.status_code}, try again")
        if response.status_code >= 400:  # RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE for a name it cannot hold
            raise GatewayError(Code.NOT_FOUND, "no such model or version in the model registry")
        return response.json()

    async def _artifact(self, run_id: str, path: str):
        """A JSON artifact of a run, or None when the run has none."""
        try:
            response = await self.client.get("/get-artifact", params={"run_uuid": run_id, "path": path})
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        try:
            return json.loads(response.content)
        except ValueError:
            return None

    # --- links --------------------------------------------------------------------------------------------

    def version_url(self, name: str, version: str) -> str:
        return f"{self.ui_url}/#/models/{quote(name, safe='')}/versions/{quote(str(version), safe='')}"

    def run_url(self, experiment_id: str, run_id: str) -> str:
        return f"{self.ui_url}/#/experiments/{quote(str(experiment_id))}/runs/{quote(run_id)}"

    # --- the index ----------------------------------------------------------------------------------------

    async def models(self, tenant_id: str) -> list[dict]:
        found = await self._get("/api/2.0/mlflow/registered-models/search", max_results=200)
        models = []
        for model in found.get("registered_models", []):
            name = model["name"]
            listed = await self._get("/api/2.0/mlflow/model-versions/search", filter=f"name='{name}'", max_results=200)
            aliases_of: dict[str, list[str]] = {}
            for alias in model.get("aliases", []):
                aliases_of.setdefault(str(alias["version"]), []).append(alias["alias"])
            versions = []
            for v in listed.get("model_versions", []):
                tags = _tags(v.get("tags"))
                if not visible(tags, tenant_id):
                    continue
                versions.append(
                    {
                        "version": str(v["version"]),
                        "created_at": v.get("creation_timestamp"),
                        "status": v.get("status", ""),
                        "aliases": sorted(aliases_of.get(str(v["version"]), [])),
                        "run_id": v.get("run_id") or "",
                        "tenant": tags.get(TENANT_TAG),
                        "tags": {k: tags[k] for k in SHOWN_TAGS if k in tags},
                        "mlflow_url": self.version_url(name, v["version"]),
                    }
                )
            if not versions:
                continue
            versions.sort(key=lambda v: int(v["version"]) if v["version"].isdigit() else 0, reverse=True)
            models.append(
                {
                    "name": name,
                    "scope": "tenant" if any(v["tenant"] for v in versions) else "platform",
                    "aliases": {
                        alias: version
                        for version, names in aliases_of.items()
                        for alias in names
                        if any(v["version"] == version for v in versions)
                    },
                    "versions": versions,
                }
            )
        models.sort(key=lambda m: (m["scope"] != "tenant", m["name"]))
        return models

    # --- one version ----------------------------------------------------------------------------------------

    async def version(self, tenant_id: str, name: str, version: str) -> dict:
        found = await self._get("/api/2.0/mlflow/model-versions/get", name=name, version=version)
        v = found.get("model_version") or {}
        tags = _tags(v.get("tags"))
        if not v or not visible(tags, tenant_id):
            raise GatewayError(Code.NOT_FOUND, f"no model version {name} {version} for your tenant")
        run_ids = {part: tags.get(tag) for part, tag in RUN_TAGS.items() if tags.get(tag)}
        run_ids.setdefault("pipeline", v.get("run_id") or "")
        runs = dict(zip(run_ids, await asyncio.gather(*(self._run(rid) for rid in run_ids.values())), strict=True))
        pipeline = runs.get("pipeline")
        curves = {}
        for part in ("sft", "dpo"):
            run = runs.get(part)
            if run:
                for metric in CURVE_METRICS:
                    points = await self._history(run["info"]["run_id"], metric)
                    if points:
                        curves[part if metric == "loss" else f"{part} {metric}"] = points
        report = await self._artifact(pipeline["info"]["run_id"], "dataset/curation_report.json") if pipeline else None
        table = await self._artifact(pipeline["info"]["run_id"], "evaluation/table.json") if pipeline else None
        metrics = _metrics(pipeline)
        return {
            "name": name,
            "version": str(v.get("version", version)),
            "aliases": sorted(v.get("aliases", [])),
            "created_at": v.get("creation_timestamp"),
            "tags": {k: val for k, val in tags.items() if k.startswith("twin.")},
            "gate": tags.get("twin.gate"),
            "gate_reason": (_tags(pipeline["data"].get("tags")) if pipeline else {}).get("twin.gate_reason"),
            "gate_table": _table(table),
            "metrics": {k: val for k, val in metrics.items() if not k.startswith("dataset.")},
            "curves": curves,
            "dataset_steps": _steps(report),
            "dataset_counts": (report or {}).get("counts")
            or {k.removeprefix("dataset."): val for k, val in metrics.items() if k.startswith("dataset.")},
            "mlflow_url": self.version_url(name, str(v.get("version", version))),
            "runs": {
                part: {
                    "run_id": run["info"]["run_id"],
                    "name": run["info"].get("run_name", ""),
                    "status": run["info"].get("status", ""),
                    "mlflow_url": self.run_url(run["info"]["experiment_id"], run["info"]["run_id"]),
                }
                for part, run in runs.items()
                if run
            },
        }

    async def _run(self, run_id: str) -> dict | None:
        if not run_id:
            return None
        try:
            return (await self._get("/api/2.0/mlflow/runs/get", run_id=run_id)).get("run")
        except GatewayError as exc:
            if exc.code is Code.NOT_FOUND:
                return None
            raise

    async def _history(self, run_id: str, metric: str) -> list[dict]:
        try:
            found = await self._get("/api/2.0/mlflow/metrics/get-history", run_id=run_id, metric_key=metric)
        except GatewayError:
            return []
        points = [{"step": int(m.get("step", 0)), "value": float(m["value"])} for m in found.get("metrics", [])]
        return sorted(points, key=lambda p: p["step"])


def _metrics(run: dict | None) -> dict[str, float]:
    if not run:
        return {}
    return {m["key"]: m["value"] for m in run.get("data", {}).get("metrics", [])}


def _table(table) -> dict | None:
    """mlflow.log_table's JSON (pandas 'split': columns + data) as {columns, rows}."""
    if not isinstance(table, dict) or "columns" not in table or "data" not in table:
        return None
    return {"columns": [str(c) for c in table["columns"]], "rows": table["data"]}


def _steps(report) -> list[dict]:
    if not isinstance(report, dict):
        return []
    steps = []
    for step in report.get("curation") or []:
        steps.append(
            {
                "step": step.get("step"),
                "rows_in": step.get("rows_in"),
                "rows_out": step.get("rows_out"),
                "dropped_by_reason": step.get("dropped_by_reason") or {},
            }
        )
    return steps
