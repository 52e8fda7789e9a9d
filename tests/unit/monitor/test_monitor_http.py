"""The monitor's HTTP surface on a fake store: a tenant key sees its own reports and windows only (another tenant's
read as absent), the service token sees all, bad input is a 4xx naming the problem, tenant text is escaped."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from twin_common.settings import SERVICE_TOKEN_HEADER, InternalAuthSettings
from twin_monitor.auth import Authenticator, StaticKeyVerifier
from twin_monitor.http import build_app
from twin_monitor.metrics import MonitorMetrics
from twin_monitor.reports import ReportOutcome
from twin_monitor.settings import MonitorSettings
from twin_monitor.store import NotFound, Window

EVIL = "<script>alert(1)</script>"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def window(window_id: str, tenant: str, status: str = "closed") -> Window:
    return Window(
        window_id, tenant, "route=twin", 2, "current", status, 10, None, 10, NOW, NOW, NOW, NOW, "count", "ref", "done",
        1, None,
    )  # fmt: skip


class FakeStore:
    def __init__(self, folder: Path):
        self.windows = {"wa": window("wa", "acme"), "wb": window("wb", EVIL), "wo": window("wo", "acme", "open")}
        self.rows = {}
        for rid, wid in (("ra", "wa"), ("rb", "wb")):
            html, js = folder / f"{rid}.html", folder / f"{rid}.json"
            html.write_text(f"<html>evidently page of {rid}</html>")
            js.write_text(json.dumps({"report_id": rid}))
            self.rows[rid] = {
                "id": rid,
                "tenant_id": self.windows[wid].tenant_id,
                "segment": "route=twin",
                "window_id": wid,
                "reference_window_id": "ref",
                "trigger": "schedule",
                "created_at": NOW,
                "current_rows": 10,
                "reference_rows": 10,
                "html_path": str(html),
                "json_path": str(js),
                "results": [{"metric": "latency_ms_drift", "drifted": rid == "rb"}],
                "drifted_count": int(rid == "rb"),
                "tested_count": 1,
                "build_seconds": 1.0,
            }

    def ping(self) -> bool:
        return True

    def reports(self, tenant=None, window_id=None, limit=50, offset=0):
        rows = [
            r for r in self.rows.values() if tenant in (None, r["tenant_id"]) and window_id in (None, r["window_id"])
        ]
        return rows[offset : offset + limit]

    def report(self, report_id):
        if report_id not in self.rows:
            raise NotFound(f"no report {report_id}")
        return self.rows[report_id]

    def window(self, window_id):
        if window_id not in self.windows:
            raise NotFound(f"no window {window_id}")
        return self.windows[window_id]

    def list_windows(self, tenant=None, segment=None, limit=100, offset=0):
        return [w for w in self.windows.values() if tenant in (None, w.tenant_id)]

    def segments(self, tenant=None):
        return [{"tenant_id": "acme", "segment": "route=twin", "reference_window_id": "ref", "open_window_id": "wo"}]

    def alerts(self, tenant=None, window_id=None, limit=200):
        return []


class FakeScheduler:
    def __init__(self):
        self.metrics = MonitorMetrics()
        self.last_error = None
        self.built: list[tuple[str, str]] = []

    async def build(self, window_id: str, trigger: str) -> ReportOutcome:
        self.built.append((window_id, trigger))
        return ReportOutcome("ra", window_id, "acme", "route=twin", [], [], 0.1)


@pytest.fixture
def client(tmp_path):
    keys = {StaticKeyVerifier.digest("key-acme"): "acme", StaticKeyVerifier.digest("key-evil"): EVIL}
    authenticator = Authenticator(StaticKeyVerifier(keys), InternalAuthSettings(service_token=SecretStr("svc")))
    scheduler = FakeScheduler()
    app = build_app(MonitorSettings(), FakeStore(tmp_path), scheduler, None, authenticator)
    with TestClient(app) as c:
        c.scheduler = scheduler
        yield c


ACME = {"Authorization": "Bearer key-acme"}
ADMIN = {SERVICE_TOKEN_HEADER: "svc"}


def test_a_tenant_sees_its_own_reports_only(client):
    assert [r["id"] for r in client.get("/v1/reports", headers=ACME).json()["reports"]] == ["ra"]
    assert client.get("/v1/reports", headers=ACME, params={"tenant": EVIL}).status_code == 404
    assert client.get("/v1/reports/rb", headers=ACME).status_code == 404
    assert client.get("/reports/rb", headers=ACME).status_code == 404
    assert client.get("/windows/wb", headers=ACME).status_code == 404
    assert client.get("/v1/windows/wb", headers=ACME).status_code == 404
    assert [w["id"] for w in client.get("/v1/windows", headers=ACME).json()["windows"]] == ["wa", "wo"]
    page = client.get("/reports/ra", headers=ACME)
    assert page.status_code == 200 and "evidently page of ra" in page.text
    assert client.get("/v1/reports/ra", headers=ACME).json() == {"report_id": "ra"}


def test_the_service_token_sees_every_tenant(client):
    assert {r["id"] for r in client.get("/v1/reports", headers=ADMIN).json()["reports"]} == {"ra", "rb"}
    assert client.get("/reports/rb", headers=ADMIN).status_code == 200
    assert [r["id"] for r in client.get("/v1/reports", headers=ADMIN, params={"tenant": "acme"}).json()["reports"]] == [
        "ra"
    ]


def test_browsers_authenticate_with_basic_and_are_asked_to(client):
    basic = {"Authorization": "Basic " + base64.b64encode(b"anyone:key-acme").decode()}
    assert client.get("/reports", headers=basic).status_code == 200
    refused = client.get("/reports")
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
    assert client.get("/reports", headers={"Authorization": "Basic !!!"}).status_code == 401


def test_tenant_text_is_escaped_in_pages(client):
    index = client.get("/reports", headers=ADMIN).text
    assert EVIL not in index and "&lt;script&gt;" in index
    window_page = client.get("/windows/wb", headers=ADMIN).text
    assert EVIL not in window_page


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 422),
        (b'{"window_id": 5}', 422),
        (b'{"window_id": "wa", "tenant": "x"}', 422),
        (b'{"window_id": ""}', 422),
        (b"[]", 422),
    ],
)
def test_bad_report_requests_are_4xx(client, body, status):
    response = client.post("/v1/reports", content=body, headers={**ACME, "Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert client.scheduler.built == []


def test_on_demand_reports(client):
    assert client.post("/v1/reports", json={}, headers=ADMIN).status_code == 400  # admin must name a tenant
    made = client.post("/v1/reports", json={}, headers=ACME)  # the caller's open window
    assert made.status_code == 201 and client.scheduler.built == [("wo", "demand")]
    assert client.post("/v1/reports", json={"window_id": "wb"}, headers=ACME).status_code == 404
    assert client.post("/v1/references/reset", json={"window_id": "wa"}, headers=ACME).status_code == 400
    assert client.get("/v1/reports", headers=ACME, params={"limit": 0}).status_code == 422
