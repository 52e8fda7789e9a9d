"""The Monitor page's reads: the monitor's reports and alerts with the caller's own key (its refusals passed on),
a monitor that is down or has no report API shown as "not available" with the reason, and a report's page
served for the sandboxed frame under its own policy. A fake monitor (httpx.MockTransport) answers."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from twin_gateway.service import GatewayRuntime
from twin_gateway.settings import GatewaySettings
from twin_gateway.webapp import install
from twin_gateway.webapp.monitor_view import MonitorView

GOOD = "twin_aaaaaaaaaaaa_good"
REPORT = {"id": "r1", "segment": "route=twin", "drifted": ["query_embedding"], "tested": 4}


def monitor(request: httpx.Request) -> httpx.Response:
    if request.headers.get("authorization") != f"Bearer {GOOD}":
        return httpx.Response(401, json={"error": "unknown API key"})
    if request.url.path == "/v1/reports":
        assert request.url.params["limit"] == "50"
        return httpx.Response(200, json={"reports": [REPORT]})
    if request.url.path == "/v1/alerts":
        return httpx.Response(200, json={"alerts": []})
    if request.url.path == "/reports/r1":
        return httpx.Response(200, text="<html><script>draw()</script>report r1</html>")
    return httpx.Response(404, json={"error": f"no report {request.url.path}"})


def client_for(handler) -> TestClient:
    app = FastAPI()
    install(app, GatewayRuntime(GatewaySettings()), MonitorView("http://monitor.test", 5, httpx.MockTransport(handler)))
    return TestClient(app)


@pytest.fixture
def client():
    return client_for(monitor)


def test_reports_and_alerts_are_read_with_the_callers_key(client):
    reports = client.get("/app/api/monitor/reports", headers={"Authorization": f"Bearer {GOOD}"})
    assert reports.json() == {"available": True, "reports": [REPORT]}
    alerts = client.get("/app/api/monitor/alerts", headers={"Authorization": f"Bearer {GOOD}"})
    assert alerts.json() == {"available": True, "alerts": []}


def test_the_monitors_refusal_of_a_key_is_passed_on(client):
    refused = client.get("/app/api/monitor/reports", headers={"Authorization": "Bearer twin_bbbbbbbbbbbb_bad"})
    assert refused.status_code == 401 and "the monitor refused the key: unknown API key" in refused.text
    assert client.get("/app/api/monitor/reports").status_code == 401  # no key at all


def test_a_monitor_without_the_report_api_or_down_is_not_available_with_the_reason():
    no_report_api = client_for(lambda request: httpx.Response(404, json={"detail": "Not Found"}))
    answer = no_report_api.get("/app/api/monitor/reports", headers={"Authorization": f"Bearer {GOOD}"}).json()
    assert answer["available"] is False and "no report API" in answer["reason"]

    def down(request):
        raise httpx.ConnectError("connection refused")

    answer = client_for(down).get("/app/api/monitor/alerts", headers={"Authorization": f"Bearer {GOOD}"}).json()
    assert answer == {
        "available": False,
        "reason": "the monitor service is not reachable at http://monitor.test (ConnectError)",
    }


def test_a_report_page_comes_for_the_frame_under_a_sandbox_policy(client):
    page = client.post("/app/monitor/reports/r1", content=f"key={GOOD}".encode())
    assert page.status_code == 200 and "report r1" in page.text
    policy = page.headers["content-security-policy"]
    assert policy.startswith("sandbox allow-scripts;") and "default-src 'none'" in policy
    assert client.post("/app/monitor/reports/r2", content=f"key={GOOD}".encode()).status_code == 404
    assert client.post("/app/monitor/reports/r1", content=b"").status_code == 401
