"""HTTP surface of the monitor: report pages (an index newest first, Evidently's own page per report, a page per
window), the JSON API, on-demand reports, reference management, /metrics and health.

Every route that shows tenant data needs credentials: a tenant's API key (`Authorization: Bearer <key>`, or HTTP
Basic with the key as password so a browser can open the pages) sees that tenant only; the service token
(`x-twin-service-token`) sees every tenant. Another tenant's report or window answers 404, like one that does not
exist.
"""

from __future__ import annotations

import asyncio
import base64
import html
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from twin_common.health import HealthRegistry
from twin_common.service import build_http_app

from twin_monitor.auth import Authenticator, AuthError, Principal
from twin_monitor.consumer import MonitorConsumer
from twin_monitor.scheduler import ReportScheduler
from twin_monitor.settings import MonitorSettings
from twin_monitor.store import Conflict, MonitorStore, NotFound, Window


class ReportRequest(BaseModel):
    """Build a report now: of `window_id`, or of the open window of a segment (the caller's tenant by default)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    window_id: str | None = Field(default=None, min_length=1, max_length=64)
    tenant_id: str | None = Field(default=None, min_length=1, max_length=128)
    segment: str | None = Field(default=None, max_length=512)


class ReferenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    tenant_id: str | None = Field(default=None, min_length=1, max_length=128)
    segment: str | None = Field(default=None, max_length=512)
    window_id: str | None = Field(default=None, min_length=1, max_length=64)  # pin only


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def report_summary(row: dict) -> dict:
    return {
        "id": row["id"],
        "tenant_id": row["tenant_id"],
        "segment": row["segment"],
        "window_id": row["window_id"],
        "reference_window_id": row["reference_window_id"],
        "trigger": row["trigger"],
        "created_at": _iso(row["created_at"]),
        "current_rows": row["current_rows"],
        "reference_rows": row["reference_rows"],
        "tested": row["tested_count"],
        "drifted": [r["metric"] for r in row["results"] if r.get("drifted")],
        "build_seconds": row["build_seconds"],
        "links": {
            "html": f"/reports/{row['id']}",
            "json": f"/v1/reports/{row['id']}",
            "window": f"/windows/{row['window_id']}",
            "tenant": f"/reports?{urlencode({'tenant': row['tenant_id']})}",
        },
    }


async def current_principal(request: Request) -> Principal:
    """The caller, from `Authorization: Bearer <key>`, HTTP Basic (the key as password: browsers), or the service
    token header."""
    headers = dict(request.headers)
    authorization = headers.get("authorization", "")
    if authorization[:6].lower() == "basic ":
        try:
            _, _, key = base64.b64decode(authorization[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise AuthError(401, "malformed Basic credentials") from None
        headers["authorization"] = f"Bearer {key}"
    return await request.app.state.authenticator.principal(headers)


Caller = Annotated[Principal, Depends(current_principal)]


def build_app(
    settings: MonitorSettings,
    store: MonitorStore,
    scheduler: ReportScheduler,
    consumer: MonitorConsumer | None,
    authenticator: Authenticator,
    health: HealthRegistry | None = None,
) -> FastAPI:
    health = health or HealthRegistry()
    if consumer is not None:
        health.add("kafka", lambda: consumer.broker.running)
    health.add("postgres", lambda: asyncio.to_thread(store.ping))
    app = build_http_app(
        settings,
        health,
        responses={400: {"description": "Malformed request"}},
        metrics_registries=[scheduler.metrics.registry],
    )
    app.state.authenticator = authenticator

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError) -> Response:
        headers = {"WWW-Authenticate": 'Basic realm="twin monitor", charset="UTF-8"'} if exc.status == 401 else {}
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=404)

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=409)

    def tenant_scope(caller: Principal, tenant: str | None) -> str | None:
        """The tenant a listing is limited to: the caller's own; an admin may name one (or see all)."""
        if caller.admin:
            return tenant
        if tenant is not None and tenant != caller.tenant_id:
            raise NotFound(f"no tenant {tenant}")
        return caller.tenant_id

    def readable_window(caller: Principal, window_id: str) -> Window:
        window = store.window(window_id)
        if not caller.may_read(window.tenant_id):
            raise NotFound(f"no window {window_id}")
        return window

    def readable_report(caller: Principal, report_id: str) -> dict:
        row = store.report(report_id)
        if not caller.may_read(row["tenant_id"]):
            raise NotFound(f"no report {report_id}")
        return row

    # --- operations ----------------------------------------------------------------------------------------

    @app.get("/v1/stats")
    def stats() -> dict:
        s = consumer.stats if consumer is not None else None
        return {
            "consumer": None
            if s is None
            else {
                "batches": s.batches,
                "messages": s.messages,
                "requests_stored": s.requests_stored,
                "duplicates": s.duplicates,
                "feedback_stored": s.feedback_stored,
                "model_events": s.model_events,
                "dead_letters": s.dead_letters,
                "database_retries": s.database_retries,
                "last_error": s.last_error,
            },
            "scheduler": {"last_error": scheduler.last_error},
        }

    # --- JSON API ------------------------------------------------------------------------------------------

    @app.get("/v1/reports")
    def list_reports(
        caller: Caller,
        tenant: str | None = None,
        window_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict:
        scope = tenant_scope(caller, tenant)
        rows = store.reports(scope, window_id, limit, offset)
        return {"reports": [report_summary(r) for r in rows]}

    @app.get("/v1/reports/{report_id}")
    def get_report(caller: Caller, report_id: str) -> Response:
        row = readable_report(caller, report_id)
        path = Path(row["json_path"])
        if not path.exists():
            raise NotFound(f"report {report_id}'s file is missing from the reports volume")
        return Response(path.read_bytes(), media_type="application/json")

    @app.post("/v1/reports", status_code=201)
    async def create_report(caller: Caller, body: ReportRequest) -> dict:
        window = await asyncio.to_thread(window_to_report, caller, body)
        outcome = await scheduler.build(window.id, "demand")
        return report_summary(await asyncio.to_thread(store.report, outcome.report_id))

    def window_to_report(caller: Principal, body: ReportRequest) -> Window:
        if body.window_id:
            return readable_window(caller, body.window_id)
        tenant = tenant_scope(caller, body.tenant_id) or body.tenant_id
        if tenant is None:
            raise HTTPException(400, "name the window (window_id) or the tenant (tenant_id) to report on")
        open_windows = [
            s for s in store.segments(tenant) if body.segment in (None, s["segment"]) and s["open_window_id"]
        ]
        if not open_windows:
            raise NotFound(f"tenant {tenant} has no open window" + (f" in {body.segment!r}" if body.segment else ""))
        if len(open_windows) > 1:
            raise Conflict(f"tenant {tenant} has several segments with open windows: name one (segment)")
        return store.window(open_windows[0]["open_window_id"])

    @app.get("/v1/windows")
    def list_windows(
        caller: Caller,
        tenant: str | None = None,
        segment: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict:
        scope = tenant_scope(caller, tenant)
        return {"windows": [w.as_dict() for w in store.list_windows(scope, segment, limit, offset)]}

    @app.get("/v1/windows/{window_id}")
    def get_window(caller: Caller, window_id: str) -> dict:
        window = readable_window(caller, window_id)
        return {
            "window": window.as_dict(),
            "reports": [report_summary(r) for r in store.reports(window.tenant_id, window.id)],
            "alerts": [_alert_json(a) for a in store.alerts(window.tenant_id, window.id)],
        }

    @app.get("/v1/segments")
    def list_segments(caller: Caller, tenant: str | None = None) -> dict:
        return {"segments": store.segments(tenant_scope(caller, tenant))}

    @app.get("/v1/alerts")
    def list_alerts(
        caller: Caller,
        tenant: str | None = None,
        window_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> dict:
        return {"alerts": [_alert_json(a) for a in store.alerts(tenant_scope(caller, tenant), window_id, limit)]}

    @app.post("/v1/references/pin")
    def pin(caller: Caller, body: ReferenceRequest) -> dict:
        tenant = tenant_scope(caller, body.tenant_id) or body.tenant_id
        if tenant is None:
            raise HTTPException(400, "name the tenant (tenant_id)")
        window = store.pin_reference(tenant, body.segment, body.window_id)
        return {"reference": window.as_dict()}

    @app.post("/v1/references/reset")
    def reset(caller: Caller, body: ReferenceRequest) -> dict:
        tenant = tenant_scope(caller, body.tenant_id) or body.tenant_id
        if tenant is None:
            raise HTTPException(400, "name the tenant (tenant_id)")
        if body.window_id is not None:
            raise HTTPException(400, "window_id: a reset takes no window (the next requests fill the reference)")
        return {"reset": store.reset_reference(tenant, body.segment)}

    # --- pages ---------------------------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return Response(status_code=307, headers={"Location": "/reports"})

    @app.get("/reports", response_class=HTMLResponse)
    def index_page(
        caller: Caller,
        tenant: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> HTMLResponse:
        scope = tenant_scope(caller, tenant)
        rows = store.reports(scope, None, limit, offset)
        return HTMLResponse(render_index(rows, scope, limit, offset))

    @app.get("/reports/{report_id}", response_class=HTMLResponse)
    def report_page(caller: Caller, report_id: str) -> Response:
        row = readable_report(caller, report_id)
        path = Path(row["html_path"])
        if not path.exists():
            raise NotFound(f"report {report_id}'s file is missing from the reports volume")
        return FileResponse(path, media_type="text/html")

    @app.get("/windows/{window_id}", response_class=HTMLResponse)
    def window_page(caller: Caller, window_id: str) -> HTMLResponse:
        window = readable_window(caller, window_id)
        reports = store.reports(window.tenant_id, window.id)
        alerts = store.alerts(window.tenant_id, window.id)
        return HTMLResponse(render_window(window, reports, alerts))

    return app


def _alert_json(row: dict) -> dict:
    return {
        "alert_id": row["alert_id"],
        "tenant_id": row["tenant_id"],
        "segment": row["segment"],
        "window_id": row["window_id"],
        "report_id": row["report_id"],
        "metric": row["metric"],
        "score": row["event"].get("score"),
        "threshold": row["event"].get("threshold"),
        "method": row["event"].get("method"),
        "created_at": _iso(row["created_at"]),
        "published_at": _iso(row["published_at"]),
    }


# --- HTML (small pages around Evidently's own) ------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222} table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;font-size:.9rem;vertical-align:top}
th{background:#f4f4f4} .drift{color:#b00020;font-weight:600} .ok{color:#1b5e20} code{font-size:.85rem}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{_e(title)}</h1>{body}</body></html>"
    )


def _tenant_link(tenant: str) -> str:
    return f'<a href="/reports?{_e(urlencode({"tenant": tenant}))}">{_e(tenant)}</a>'


def render_index(rows: list[dict], tenant: str | None, limit: int, offset: int) -> str:
    lines = []
    for row in rows:
        drifted = [r["metric"] for r in row["results"] if r.get("drifted")]
        drift = (
            f'<span class="drift">{_e(", ".join(drifted))}</span>' if drifted else '<span class="ok">no drift</span>'
        )
        lines.append(
            "<tr>"
            f'<td><a href="/reports/{quote(row["id"])}">{_e(row["created_at"].strftime("%Y-%m-%d %H:%M:%S"))}</a></td>'
            f"<td>{_tenant_link(row['tenant_id'])}</td><td><code>{_e(row['segment'] or '-')}</code></td>"
            f'<td><a href="/windows/{quote(row["window_id"])}">{_e(row["window_id"])}</a></td>'
            f'<td><a href="/windows/{quote(row["reference_window_id"])}">{_e(row["reference_window_id"])}</a></td>'
            f"<td>{row['current_rows']} / {row['reference_rows']}</td>"
            f"<td>{len(drifted)} of {row['tested_count']}: {drift}</td><td>{_e(row['trigger'])}</td>"
            f'<td><a href="/reports/{quote(row["id"])}">page</a> · <a href="/v1/reports/{quote(row["id"])}">json</a></td>'
            "</tr>"
        )
    scope = f" of tenant {_e(tenant)}" if tenant else ""
    nav = []
    if offset:
        nav.append(
            f'<a href="?{_e(urlencode({**({"tenant": tenant} if tenant else {}), "offset": max(0, offset - limit)}))}">newer</a>'
        )
    if len(rows) == limit:
        nav.append(
            f'<a href="?{_e(urlencode({**({"tenant": tenant} if tenant else {}), "offset": offset + limit}))}">older</a>'
        )
    table = (
        "<table><tr><th>created (UTC)</th><th>tenant</th><th>segment</th><th>window</th><th>reference</th>"
        "<th>rows (window / reference)</th><th>drifted tests</th><th>trigger</th><th>report</th></tr>"
        + "".join(lines)
        + "</table>"
    )
    empty = "<p>No reports yet.</p>" if not rows else ""
    return _page(f"Drift reports{scope}", f"<p>Newest first.</p>{table}{empty}<p>{' · '.join(nav)}</p>")


def render_window(window: Window, reports: list[dict], alerts: list[dict]) -> str:
    facts = "".join(
        f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>"
        for k, v in window.as_dict().items()
        if k not in ("tenant_id", "id")
    )
    report_rows = "".join(
        f'<tr><td><a href="/reports/{quote(r["id"])}">{_e(r["id"])}</a></td><td>{_e(_iso(r["created_at"]))}</td>'
        f"<td>{_e(r['trigger'])}</td><td>{r['tested_count']}</td>"
        f"<td>{_e(', '.join(x['metric'] for x in r['results'] if x.get('drifted')) or '-')}</td></tr>"
        for r in reports
    )
    alert_rows = "".join(
        f"<tr><td><code>{_e(a['metric'])}</code></td><td>{_e(a['event'].get('method'))}</td>"
        f"<td>{_e(a['event'].get('score'))}</td><td>{_e(a['event'].get('threshold'))}</td>"
        f"<td>{_e(_iso(a['published_at']) or 'not yet')}</td></tr>"
        for a in alerts
    )
    body = (
        f"<p>Tenant {_tenant_link(window.tenant_id)}</p><table>{facts}</table>"
        "<h2>Reports</h2><table><tr><th>report</th><th>created</th><th>trigger</th><th>tests</th><th>drifted</th></tr>"
        f"{report_rows}</table>"
        "<h2>Alerts</h2><table><tr><th>metric</th><th>method</th><th>score</th><th>threshold</th><th>published</th></tr>"
        f"{alert_rows}</table>"
    )
    return _page(f"Window {window.id} ({window.kind}, {window.status})", body)
