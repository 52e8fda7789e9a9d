"""The Models page's view of MLflow: a tenant sees its own twin's versions and the platform's shared models, never
another tenant's; one version's gate table, curves and curation steps come from the runs the trainer tags.
A fake MLflow REST API (httpx.MockTransport) stands in for the server."""

from __future__ import annotations

import json

import httpx
import pytest
from twin_gateway.errors import Code, GatewayError
from twin_gateway.mlflow_view import MlflowView

VERSIONS = {
    "twin-llm": [
        {"name": "twin-llm", "version": "1", "run_id": "p1", "tags": [{"key": "twin.tenant", "value": "acme"}]},
        {
            "name": "twin-llm",
            "version": "2",
            "run_id": "p2",
            "tags": [
                {"key": "twin.tenant", "value": "acme"},
                {"key": "twin.gate", "value": "champion"},
                {"key": "twin.sft_run_id", "value": "s2"},
                {"key": "twin.dpo_run_id", "value": "d2"},
            ],
        },
        {"name": "twin-llm", "version": "3", "run_id": "p3", "tags": [{"key": "twin.tenant", "value": "other"}]},
    ],
    "twin-rerank": [{"name": "twin-rerank", "version": "4", "run_id": "r4", "tags": []}],
}
ALIASES = {"twin-llm": [{"alias": "champion", "version": "2"}, {"alias": "challenger", "version": "3"}]}


def run(run_id: str, tags: dict | None = None) -> dict:
    return {
        "run": {
            "info": {"run_id": run_id, "experiment_id": "7", "run_name": run_id, "status": "FINISHED"},
            "data": {
                "metrics": [{"key": "dataset.sft_rows", "value": 96}, {"key": "eval.base.ppl", "value": 31.0}],
                "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
            },
        }
    }


def handler(request: httpx.Request) -> httpx.Response:
    path, params = request.url.path, dict(request.url.params)
    if path.endswith("/registered-models/search"):
        return httpx.Response(
            200, json={"registered_models": [{"name": n, "aliases": ALIASES.get(n, [])} for n in VERSIONS]}
        )
    if path.endswith("/model-versions/search"):
        name = params["filter"].split("'")[1]
        return httpx.Response(200, json={"model_versions": VERSIONS[name]})
    if path.endswith("/model-versions/get"):
        found = [v for v in VERSIONS.get(params["name"], []) if v["version"] == params["version"]]
        if not found:
            return httpx.Response(404, json={"error_code": "RESOURCE_DOES_NOT_EXIST"})
        return httpx.Response(200, json={"model_version": {**found[0], "aliases": ["champion"]}})
    if path.endswith("/runs/get"):
        return httpx.Response(200, json=run(params["run_id"], {"twin.gate_reason": "beats base"}))
    if path.endswith("/metrics/get-history"):
        if params["metric_key"] != "loss":
            return httpx.Response(200, json={})
        start = 2.0 if params["run_id"] == "s2" else 0.7
        points = [{"key": "loss", "value": start / step, "step": step} for step in (3, 1, 2)]
        return httpx.Response(200, json={"metrics": points})
    if path == "/get-artifact":
        if params["path"] == "evaluation/table.json":
            body = {"columns": ["model", "ppl"], "index": [0, 1], "data": [["base", 31.0], ["sft+dpo", 17.9]]}
        else:
            body = {"curation": [{"step": "rules", "rows_in": 10, "rows_out": 8, "dropped_by_reason": {"short": 2}}]}
        return httpx.Response(200, content=json.dumps(body).encode())
    return httpx.Response(404)


@pytest.fixture
def view():
    client = httpx.AsyncClient(base_url="http://mlflow.test", transport=httpx.MockTransport(handler))
    return MlflowView(client, "http://mlflow.example/")


async def test_a_tenant_sees_its_versions_and_the_platforms_not_another_tenants(view):
    models = {m["name"]: m for m in await view.models("acme")}
    twin = models["twin-llm"]
    assert [v["version"] for v in twin["versions"]] == ["2", "1"]  # newest first, version 3 is another tenant's
    assert twin["scope"] == "tenant" and twin["aliases"] == {"champion": "2"}  # the challenger (v3) is not shown
    assert twin["versions"][0]["aliases"] == ["champion"] and twin["versions"][0]["tags"] == {"twin.gate": "champion"}
    assert twin["versions"][0]["mlflow_url"] == "http://mlflow.example/#/models/twin-llm/versions/2"
    assert models["twin-rerank"]["scope"] == "platform"
    assert list(models) == ["twin-llm", "twin-rerank"]  # the tenant's own first
    assert [m["name"] for m in await view.models("nobody")] == ["twin-rerank"]


async def test_one_version_with_gate_table_curves_and_curation(view):
    v = await view.version("acme", "twin-llm", "2")
    assert v["gate_table"] == {"columns": ["model", "ppl"], "rows": [["base", 31.0], ["sft+dpo", 17.9]]}
    assert [p["step"] for p in v["curves"]["sft"]] == [1, 2, 3] and v["curves"]["sft"][0]["value"] == 2.0
    assert set(v["curves"]) == {"sft", "dpo"}
    assert v["dataset_steps"] == [{"step": "rules", "rows_in": 10, "rows_out": 8, "dropped_by_reason": {"short": 2}}]
    assert v["gate"] == "champion" and v["gate_reason"] == "beats base"
    assert v["metrics"] == {"eval.base.ppl": 31.0}
    assert v["runs"]["sft"]["mlflow_url"] == "http://mlflow.example/#/experiments/7/runs/s2"


async def test_another_tenants_version_or_an_unknown_one_is_not_found(view):
    for name, version in (("twin-llm", "3"), ("twin-llm", "99"), ("nope", "1")):
        with pytest.raises(GatewayError) as refused:
            await view.version("acme", name, version)
        assert refused.value.code is Code.NOT_FOUND


async def test_mlflow_down_is_unavailable_not_a_crash():
    def down(request):
        raise httpx.ConnectError("refused")

    view = MlflowView(httpx.AsyncClient(base_url="http://x", transport=httpx.MockTransport(down)), "http://x")
    with pytest.raises(GatewayError) as refused:
        await view.models("acme")
    assert refused.value.code is Code.UNAVAILABLE
