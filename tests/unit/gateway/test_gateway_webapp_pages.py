"""The web app's pages and assets as the gateway serves them: every page under a policy that loads nothing from
elsewhere, nothing in the assets that points at the internet (no CDN, no web font), every script and style a page
names exists, the key never in a URL, and the markup's accessibility basics (language, landmarks, labels)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib.resources import files

import pytest
from fastapi.testclient import TestClient
from twin_gateway.service import GatewayRuntime
from twin_gateway.settings import GatewaySettings
from twin_gateway.surfaces.http_app import build_app
from twin_gateway.webapp.routes import PAGES

STATIC = files("twin_gateway.webapp").joinpath("static")


@pytest.fixture(scope="module")
def client():
    # the pages need no started gateway (the /app/api routes do, and answer 503 until it is)
    return TestClient(build_app(GatewayRuntime(GatewaySettings())))


class Markup(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parsed(text: str) -> Markup:
    markup = Markup()
    markup.feed(text)
    return markup


def assets() -> list:
    out = []
    for entry in STATIC.iterdir():
        out += list(entry.iterdir()) if entry.is_dir() else [entry]
    return out


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_each_page_is_served_under_a_self_only_policy_with_its_assets(client, page):
    response = client.get(page.path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["cache-control"] == "no-store"
    markup = parsed(response.text)
    referenced = [a.get("src") or a.get("href") for t, a in markup.tags if t in ("script", "link", "img")]
    for ref in referenced:
        assert ref.startswith("/app/static/"), ref
        served = client.get(ref)
        assert served.status_code == 200, ref
    assert any(t == "script" and a.get("src") == f"/app/static/js/{page.name}.js" for t, a in markup.tags)
    assert ("html", {"lang": "en"}) in markup.tags
    assert any(t == "main" for t, _ in markup.tags) and any(
        t == "meta" and a.get("name") == "viewport" for t, a in markup.tags
    )


def test_the_current_page_is_marked_in_the_navigation(client):
    text = client.get("/app/library").text
    assert '<a href="/app/library" aria-current="page">Library</a>' in text
    assert '<a href="/app/" aria-current' not in text
    assert 'aria-label="Main"' in text


def test_form_fields_have_labels(client):
    for page in PAGES:
        markup = parsed(client.get(page.path).text)
        labelled = {a.get("for") for t, a in markup.tags if t == "label"}
        for tag, attrs in markup.tags:
            if tag in ("input", "select", "textarea") and attrs.get("type") != "hidden":
                # a field is inside its <label> (the usual here) or named by for=/aria-label
                assert attrs.get("id") in labelled or "aria-label" in attrs or _inside_label(page, attrs), (page, attrs)


def _inside_label(page, attrs) -> bool:
    template = files("twin_gateway.webapp").joinpath("pages", f"{page.name}.html").read_text()
    ident = attrs.get("id")
    if not ident:
        return False
    position = template.index(f'id="{ident}"')
    return template.rfind("<label", 0, position) > template.rfind("</label>", 0, position)


def test_no_asset_reaches_for_the_internet():
    for asset in assets():
        text = asset.read_text(encoding="utf-8")
        for url in re.findall(r"https?://[^\s\"'`)]+", text):
            assert url.startswith("http://www.w3.org/"), f"{asset.name} refers to {url}"  # SVG's namespace only
        assert "@import" not in text and "fonts.googleapis" not in text and "cdn" not in text.lower()


def test_the_key_is_never_put_in_a_url_by_the_scripts():
    js = "\n".join(a.read_text() for a in assets() if a.name.endswith(".js"))
    assert "sessionStorage.setItem(KEY" in js  # kept in the tab's session
    assert "localStorage.setItem(KEY" not in js and "document.cookie" not in js
    for line in js.splitlines():
        if "apiKey()" in line and ("?" in line or "URLSearchParams" in line):
            assert "Authorization" in line or "form.elements.key" in line, line


def test_the_monitor_report_frame_runs_under_its_own_sandbox(client):
    refused = client.post("/app/monitor/reports/../x", content=b"key=k")
    assert refused.status_code in (400, 404)
    bad = client.post("/app/monitor/reports/a%20b", content=b"key=k")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "report_id"


def test_the_web_api_refuses_until_the_gateway_started(client):
    response = client.get("/app/api/session", headers={"Authorization": "Bearer twin_x_y"})
    assert response.status_code == 503 and response.json()["error"]["code"] == "UNAVAILABLE"
