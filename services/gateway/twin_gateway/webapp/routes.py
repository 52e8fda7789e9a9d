"""The web app's HTTP surface: its pages (server-rendered shells around a little JavaScript), its static assets,
and /app/api - the JSON the pages need beyond twin.v1. Every /app/api route but the monitor's runs through the
gateway's pipeline (auth -> quota -> the operation's stage) like any other request, with the caller's key as
`Authorization: Bearer`; errors have the REST surface's shape ({"error": {code, message, field?, reason?}}).

    GET  /app/  /app/library  /app/models  /app/monitor  /app/passage  /app/signin     pages
    GET  /app/static/...                                                               assets
    GET  /app/api/session                       who the key is: tenant, scopes, the routes it may use, MLflow's address
    GET  /app/api/library                       documents (q, author, kind, tag, limit, offset) + facets + journeys
    GET  /app/api/journeys?id=...               journeys of named documents (deleted ones too)
    GET  /app/api/documents/{id}/passages/{n}   one indexed passage (where citation links lead)
    POST /app/api/imports/urls                  {author, urls}: the ingest service fetches and stores them
    GET  /app/api/models                        registered model versions the tenant may see (MLflow)
    GET  /app/api/models/{name}/versions/{v}    gate table, training curves, dataset sizes, MLflow links
    GET  /app/api/monitor/reports|alerts        the monitor service's reports / alerts, read with the caller's key
    POST /app/monitor/reports/{id}              a report's page (form field `key`), for a sandboxed frame
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from twin_common.documents import DocumentKind

from twin_gateway.errors import GatewayError, invalid
from twin_gateway.pipeline.context import Filters, GatewayRequest, Operation, RequestContext, Surface
from twin_gateway.service import GatewayRuntime
from twin_gateway.surfaces import translate
from twin_gateway.surfaces.rest_api import ERRORS, bearer, error_response
from twin_gateway.webapp import api_models as m
from twin_gateway.webapp.monitor_view import MonitorUnavailable, MonitorView

log = logging.getLogger(__name__)

WEB = Surface.WEB
HERE = files("twin_gateway.webapp")
MAX_FILTER_ITEMS = 100
REPORT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")

# Pages load only what they serve themselves; a report of the monitor runs in a sandboxed frame under its own policy.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
REPORT_POLICY = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data:; font-src data:; frame-ancestors 'self'"
)
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


@dataclass(frozen=True)
class Page:
    path: str
    title: str
    name: str
    in_nav: bool = True


PAGES = (
    Page("/app/", "Chat", "chat"),
    Page("/app/library", "Library", "library"),
    Page("/app/models", "Models", "models"),
    Page("/app/monitor", "Monitor", "monitor"),
    Page("/app/passage", "Passage", "passage", in_nav=False),
    Page("/app/signin", "Sign in", "signin", in_nav=False),
)


@cache
def _template(name: str) -> str:
    return HERE.joinpath("pages", f"{name}.html").read_text(encoding="utf-8")


def render(page: Page) -> str:
    current = ' aria-current="page"'
    nav = "".join(f'<li><a href="{p.path}"{current if p is page else ""}>{p.title}</a></li>' for p in PAGES if p.in_nav)
    return (
        _template("layout")
        .replace("{{title}}", page.title)
        .replace("{{page}}", page.name)
        .replace("{{nav}}", nav if page.name != "signin" else "")
        .replace("{{body}}", _template(page.name))
    )


def _list(field: str, values: list[str]) -> tuple[str, ...]:
    if len(values) > MAX_FILTER_ITEMS:
        raise invalid(field, f"has {len(values)} items; the limit is {MAX_FILTER_ITEMS}")
    return tuple(translate.text(f"{field}[{i}]", v, max_chars=200, required=True) for i, v in enumerate(values))


def _kinds(values: list[str]) -> tuple[str, ...]:
    known = [k.value for k in DocumentKind]
    for i, value in enumerate(values):
        if value not in known:
            raise invalid(f"kind[{i}]", f"must be one of {', '.join(known)}")
    return tuple(values)


def build_router(runtime: GatewayRuntime, monitor: MonitorView | None = None) -> APIRouter:
    router = APIRouter()
    api = APIRouter(prefix="/app/api", tags=["web app"], responses=ERRORS)
    settings = runtime.settings

    async def run(request: Request, internal: GatewayRequest) -> RequestContext:
        ctx = runtime.context(internal, bearer(request))
        await runtime.call(ctx)
        return ctx

    async def answer(request: Request, internal: GatewayRequest) -> Response:
        try:
            ctx = await run(request, internal)
        except GatewayError as error:
            return error_response(error)
        return JSONResponse(ctx.result)

    # --- pages --------------------------------------------------------------------------------------------

    @router.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/app/", status_code=307)

    @router.get("/app", include_in_schema=False)
    def app_root() -> Response:
        return RedirectResponse("/app/", status_code=307)

    def page_route(page: Page):
        def show() -> HTMLResponse:
            return HTMLResponse(render(page), headers={"Content-Security-Policy": PAGE_POLICY, **SECURITY_HEADERS})

        return show

    for page in PAGES:
        router.add_api_route(
            page.path, page_route(page), methods=["GET"], include_in_schema=False, name=f"page_{page.name}"
        )

    # --- /app/api -------------------------------------------------------------------------------------------

    @api.get("/session", response_model=m.SessionResponse, summary="Who the key is and the routes it may use")
    async def session(request: Request) -> Response:
        try:
            gateway = runtime._started()
            caller = await gateway.resources.keys.authenticate(bearer(request))
        except GatewayError as error:
            return error_response(error)
        router_ = gateway.resources.router
        default = router_.config.default_route
        routes = [
            {"id": name, "description": router_.route(name).description, "default": name == default}
            for name in router_.route_names
            if caller.may_use_route(name)
        ]
        return JSONResponse(
            {
                "key_id": caller.key_id,
                "tenant_id": caller.tenant_id,
                "scopes": sorted(caller.scopes),
                "routes": routes,
                "mlflow_url": settings.webapp.mlflow_ui_url or settings.webapp.mlflow_url,
            }
        )

    @api.get("/library", response_model=m.LibraryResponse, summary="The tenant's documents with their journeys")
    async def library(
        request: Request,
        q: str = Query("", max_length=500, description="words in the title, the external id or the text"),
        author: list[str] = Query([], description="author ids (facets.authors)"),
        kind: list[str] = Query([], description="document kinds"),
        tag: list[str] = Query([], description="tags (a document has them all)"),
        limit: int = Query(50, ge=0, le=500, description="0: the facets only"),
        offset: int = Query(0, ge=0, le=2**31 - 1),
    ) -> Response:
        try:
            internal = GatewayRequest(
                operation=Operation.LIBRARY,
                surface=WEB,
                question=translate.text("q", q, max_chars=500),
                filters=Filters(author_ids=_list("author", author), kinds=_kinds(kind), tags=_list("tag", tag)),
                limit=limit,
                offset=offset,
            )
        except GatewayError as error:
            return error_response(error)
        return await answer(request, internal)

    @api.get("/journeys", response_model=m.JourneysResponse, summary="Journeys of named documents")
    async def journeys(request: Request, id: list[str] = Query(..., description="document ids")) -> Response:
        try:
            internal = GatewayRequest(operation=Operation.DOCUMENT_JOURNEYS, surface=WEB, document_ids=_list("id", id))
        except GatewayError as error:
            return error_response(error)
        return await answer(request, internal)

    @api.get(
        "/documents/{document_id}/passages/{position}",
        response_model=m.PassageResponse,
        summary="One indexed passage of a document (where a citation leads)",
    )
    async def passage(
        request: Request,
        document_id: str = Path(max_length=64),
        position: int = Path(ge=0, le=1_000_000),
    ) -> Response:
        internal = GatewayRequest(operation=Operation.PASSAGE, surface=WEB, document_id=document_id, position=position)
        return await answer(request, internal)

    @api.post("/imports/urls", response_model=m.ImportReport, summary="Fetch URLs and store their text")
    async def import_urls(body: m.UrlImportRequest, request: Request) -> Response:
        try:
            internal = GatewayRequest(
                operation=Operation.IMPORT_URLS,
                surface=WEB,
                author=translate.text("author", body.author, max_chars=200, required=True),
                urls=tuple(
                    translate.text(f"urls[{i}]", u, max_chars=2000, required=True) for i, u in enumerate(body.urls)
                ),
            )
            ctx = await run(request, internal)
        except GatewayError as error:
            return error_response(error)
        report = ctx.result or {}
        return JSONResponse(
            {
                "stored": report.get("stored", 0),
                "updated": report.get("updated", 0),
                "unchanged": report.get("unchanged", 0),
                "rejected": [
                    {
                        "external_id": r.get("external_id", ""),
                        "reason": r.get("reason", ""),
                        "detail": r.get("detail", ""),
                    }
                    for r in report.get("rejections", [])
                ],
            }
        )

    @api.get("/models", response_model=m.ModelsResponse, summary="Registered model versions the tenant may see")
    async def models(request: Request) -> Response:
        return await answer(request, GatewayRequest(operation=Operation.MODEL_VERSIONS, surface=WEB))

    @api.get(
        "/models/{name}/versions/{version}",
        response_model=m.ModelVersionResponse,
        summary="One model version: gate table, training curves, dataset sizes, MLflow links",
    )
    async def model_version(
        request: Request, name: str = Path(max_length=200), version: str = Path(max_length=20, pattern=r"^\d+$")
    ) -> Response:
        try:
            internal = GatewayRequest(
                operation=Operation.MODEL_VERSIONS,
                surface=WEB,
                model_name=translate.text("name", name, max_chars=200, required=True),
                model_version=version,
            )
        except GatewayError as error:
            return error_response(error)
        return await answer(request, internal)

    # --- the monitor (it checks the caller's key itself: a tenant sees its own reports only) ------------------

    def monitor_view() -> MonitorView:
        return monitor or MonitorView(settings.webapp.monitor_url, settings.webapp.upstream_timeout_s)

    @api.get("/monitor/reports", response_model=m.MonitorResponse, summary="Drift reports (the monitor's)")
    async def monitor_reports(request: Request, limit: int = Query(50, ge=1, le=500)) -> Response:
        try:
            return JSONResponse(await monitor_view().listing(f"/v1/reports?limit={limit}", bearer(request)))
        except GatewayError as error:
            return error_response(error)

    @api.get("/monitor/alerts", response_model=m.MonitorResponse, summary="Drift alerts (the monitor's)")
    async def monitor_alerts(request: Request, limit: int = Query(200, ge=1, le=1000)) -> Response:
        try:
            return JSONResponse(await monitor_view().listing(f"/v1/alerts?limit={limit}", bearer(request)))
        except GatewayError as error:
            return error_response(error)

    @router.post("/app/monitor/reports/{report_id}", include_in_schema=False)
    async def monitor_report_page(report_id: str, request: Request) -> Response:
        """A report's own page (Evidently's HTML), for a sandboxed frame: the key comes in the form body (a frame
        cannot send a header, and a key never goes in a URL); the page runs under a policy with no network."""
        if not REPORT_ID.match(report_id):
            return error_response(invalid("report_id", "is not a report id"))
        form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
        try:
            found = await monitor_view().get(f"/reports/{report_id}", (form.get("key") or [""])[0])
        except GatewayError as error:
            return error_response(error)
        except MonitorUnavailable as exc:
            return HTMLResponse(f"<p>{html.escape(str(exc))}</p>", status_code=503)
        return HTMLResponse(found.content, headers={"Content-Security-Policy": REPORT_POLICY, **SECURITY_HEADERS})

    router.include_router(api)
    return router


def install(app: FastAPI, runtime: GatewayRuntime, monitor: MonitorView | None = None) -> None:
    """Add the web app to the gateway's HTTP app (its pages, /app/api and /app/static)."""
    app.include_router(build_router(runtime, monitor))
    app.mount("/app/static", StaticFiles(directory=str(HERE.joinpath("static"))), name="webapp-static")
