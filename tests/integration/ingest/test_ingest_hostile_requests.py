"""The ingest API against an attacker: internal addresses (directly, by name, after a redirect, through a changing
DNS answer), bad fields inside a batch, oversize bodies, missing credentials; on the real database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from twin_common.service_auth import service_token_header
from twin_common.settings import PostgresSettings
from twin_ingest import api as ingest_api
from twin_ingest.api import build_app
from twin_ingest.importers.web import import_urls
from twin_ingest.settings import IngestSettings
from twin_ingest.url_guard import AddressPolicy, FetchLimits, guarded_client

REPO = Path(__file__).resolve().parents[3]


class _Site(BaseHTTPRequestHandler):
    """/page: a page; /to?u=URL: a redirect to URL; /loop: redirects to itself; /drip: a body sent slowly."""

    hosts: list[str]

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.hosts.append(self.headers.get("Host", ""))
        if self.path == "/page":
            body = b"<title>Page</title><p>public text</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path.startswith("/to?u="):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/to?u="))
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(40):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
        else:
            self.send_error(404)

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def site() -> Iterator[tuple[str, list[str]]]:
    hosts: list[str] = []
    handler = type("Site", (_Site,), {"hosts": hosts})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hosts
    finally:
        server.shutdown()
        server.server_close()


def _settings(source_dsn: str, **overrides) -> IngestSettings:
    return IngestSettings(
        postgres=PostgresSettings(database=source_dsn.rsplit("/", 1)[1]),
        telemetry={"enabled": False, "spans_file": None},
        **overrides,
    )


@pytest.fixture
def client(source_dsn):
    """The API with production defaults: no network is allowed besides public addresses."""
    with TestClient(build_app(_settings(source_dsn, max_request_bytes=200_000)), headers=service_token_header()) as c:
        yield c


def _stored(client: TestClient, tenant: str = "acme") -> list[dict]:
    return client.get(f"/v1/tenants/{tenant}/documents").json()


def test_url_ingest_refuses_internal_addresses_without_connecting(client):
    with site() as (base, hosts):
        port = base.rsplit(":", 1)[1]
        urls = [
            f"{base}/page",  # loopback
            f"http://localhost:{port}/page",  # a name for it
            f"http://[::1]:{port}/page",
            f"http://0.0.0.0:{port}/page",
            f"http://2130706433:{port}/page",  # 127.0.0.1 as one decimal number
            f"http://[::ffff:127.0.0.1]:{port}/page",  # IPv4 mapped into IPv6
            "http://169.254.169.254/latest/meta-data/",  # the cloud metadata service (link-local)
            "http://10.0.0.1/",
            "http://192.168.1.1/admin",
            "http://224.0.0.1/",
        ]
        report = client.post("/v1/tenants/acme/urls", json={"author": "Ada", "urls": urls}).json()
    assert report["stored"] == 0 and report["rejected"] == len(urls)
    details = {r["external_id"]: r["detail"] for r in report["rejections"]}
    assert all(
        d.startswith("refused: ") and "address, which URL ingest does not fetch from" in d for d in details.values()
    )
    assert "loopback" in details[f"{base}/page"] and "link-local" in details[urls[6]]
    assert "private" in details["http://10.0.0.1/"] and "multicast" in details["http://224.0.0.1/"]
    assert hosts == []  # no request ever reached the server
    assert _stored(client) == []


def test_a_redirect_to_an_internal_address_is_refused_at_the_hop(source_dsn):
    settings = _settings(source_dsn, fetch_allowed_networks=["127.0.0.1/32"], fetch_max_redirects=3)
    with TestClient(build_app(settings), headers=service_token_header()) as client, site() as (base, hosts):
        urls = [
            f"{base}/to?u=http://169.254.169.254/latest/meta-data/iam",
            f"{base}/to?u=http://10.1.2.3:8080/",
            f"{base}/to?u=http://[::1]:{base.rsplit(':', 1)[1]}/page",  # loopback, but not the allowed network
            f"{base}/to?u={base}/page",  # an allowed hop is followed
            f"{base}/loop",
            f"{base}/to?u=file:///etc/passwd",
        ]
        report = client.post("/v1/tenants/acme/urls", json={"author": "Ada", "urls": urls}).json()
    details = {r["external_id"]: r["detail"] for r in report["rejections"]}
    assert report["stored"] == 1 and [d["title"] for d in _stored(client)] == ["Page"]
    assert "link-local" in details[urls[0]] and "private" in details[urls[1]] and "loopback" in details[urls[2]]
    assert details[urls[4]] == "more than 3 redirects"
    assert details[urls[5]] == "redirected to a URL that is not http(s)"
    assert not any("Errno" in d or "refused" == d for d in details.values())


def test_the_connection_goes_to_the_address_that_was_checked():
    """DNS rebinding: a name that answers an allowed address to the check and a private one later still reaches
    the checked address, because the client connects to the address it checked instead of resolving again."""
    with site() as (base, hosts):
        port = int(base.rsplit(":", 1)[1])
        answers = iter([["127.0.0.1"], ["10.9.9.9"], ["10.9.9.9"]])
        calls = []

        def resolver(host: str, p: int) -> list[str]:
            calls.append(host)
            return next(answers)

        policy = AddressPolicy(allowed_networks=("127.0.0.1/32",))
        with guarded_client(policy, FetchLimits(), resolver) as client:
            response = client.get(f"http://rebind.test:{port}/page")
        assert response.status_code == 200 and hosts == [f"rebind.test:{port}"] and calls == ["rebind.test"]

        # a name whose answers mix an allowed and a refused address is refused as a whole
        def mixed(host: str, p: int) -> list[str]:
            return ["127.0.0.1", "10.0.0.7"]

        items = list(import_urls([f"http://mixed.test:{port}/page"], client=guarded_client(policy, resolver=mixed)))
        assert "private" in items[0].detail and len(hosts) == 1


def test_a_slow_body_is_cut_at_the_deadline():
    with site() as (base, _):
        started = time.monotonic()
        policy = AddressPolicy(allowed_networks=("127.0.0.1/32",))
        [item] = import_urls([f"{base}/drip"], policy=policy, limits=FetchLimits(timeout_s=5, deadline_s=1))
    assert item.detail == "took longer than 1 s" and time.monotonic() - started < 3.5


def test_a_bad_item_is_rejected_alone_and_the_batch_goes_on(client, source_dsn):
    documents = [
        {"id": "good-1", "content": "first good post"},
        {"id": "surrogate-title", "content": "text", "title": "bad \ud800 title"},
        {"id": "x" * 3000, "content": "an id over the unique index's limit"},
        {"id": "many-tags", "content": "text", "tags": [f"t{i}" for i in range(100)]},
        {"id": "big-metadata", "content": "text", "metadata": {f"k{i}": i for i in range(100)}},
        {"id": "nul-metadata", "content": "text", "metadata": {"note": "a\u0000b"}},
        {"id": "\udc00", "content": "a surrogate id"},
        {"id": "good-2", "content": "second good post"},
    ]
    # ensure_ascii keeps the unpaired surrogates as \\ud800 escapes, as any JSON client may send them
    body = json.dumps({"author": "Ada", "documents": documents}, ensure_ascii=True)
    response = client.post("/v1/tenants/acme/documents", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["stored"] == 2 and report["rejected"] == 6
    reasons = {r["external_id"][:20]: (r["reason"], r["detail"]) for r in report["rejections"]}
    assert reasons["surrogate-title"] == ("bad_encoding", "title contains unpaired surrogates (not UTF-8)")
    assert reasons["x" * 20] == ("too_large", "id is 3000 bytes, over the limit of 2000")
    assert reasons["many-tags"] == ("too_large", "100 tags, over the limit of 64")
    assert reasons["big-metadata"] == ("too_large", "metadata has 100 keys, over the limit of 64")
    assert reasons["nul-metadata"] == ("invalid", "metadata.note contains NUL characters")
    assert reasons["\\udc00"][0] == "bad_encoding"  # the report shows the id escaped, and stays valid JSON
    assert sorted(d["external_id"] for d in _stored(client)) == ["good-1", "good-2"]

    bad_author = json.dumps({"author": "\ud800", "documents": [{"id": "a", "content": "b"}]}, ensure_ascii=True)
    refused = client.post(
        "/v1/tenants/acme/documents", content=bad_author, headers={"Content-Type": "application/json"}
    )
    assert refused.status_code == 422 and "author" in refused.text and "\\ud800" in refused.text


def test_the_cli_reports_bad_items_instead_of_a_traceback(tmp_path, source_dsn):
    path = tmp_path / "export.jsonl"
    lines = [
        {"id": "fine", "content": "a fine post"},
        {"id": "bad-title", "content": "text", "title": "\ud800"},
        {"id": "y" * 2800, "content": "long id"},
    ]
    path.write_text("\n".join(json.dumps(line, ensure_ascii=True) for line in lines))
    result = subprocess.run(
        [sys.executable, "-m", "twin_cli.main", "ingest", str(path), "--author", "Ada", "--dsn", source_dsn, "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert report["stored"] == 1 and {r["reason"] for r in report["rejections"]} == {"bad_encoding", "too_large"}
    with psycopg.connect(source_dsn) as conn:
        assert conn.execute("SELECT external_id FROM documents").fetchall() == [("fine",)]


def _raw_request(port: int, head: str, body_chunks: list[bytes]) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        for chunk in body_chunks:
            try:
                sock.sendall(chunk)
            except OSError:
                break
        return sock.recv(4096).decode(errors="replace")


def test_request_bodies_over_the_limit_get_413(client):
    big = {"author": "Ada", "documents": [{"id": f"d{i}", "content": "z" * 900} for i in range(300)]}
    declared = client.post("/v1/tenants/acme/documents", json=big)
    assert declared.status_code == 413 and "200000 bytes" in declared.text

    def chunks():  # no Content-Length: counted as it arrives
        yield b'{"author": "Ada", "documents": ['
        for i in range(400):
            yield json.dumps({"id": f"c{i}", "content": "z" * 900}).encode() + b","
        yield b'{"id": "last", "content": "z"}]}'

    streamed = client.post("/v1/tenants/acme/documents", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert _stored(client) == []
    small = client.post(
        "/v1/tenants/acme/documents", json={"author": "Ada", "documents": [{"id": "s", "content": "ok"}]}
    )
    assert small.status_code == 200 and small.json()["stored"] == 1


def test_bodies_are_parsed_off_the_event_loop(client, monkeypatch):
    seen = []
    parse = ingest_api._parse_body

    def recording(raw, model):
        try:
            asyncio.get_running_loop()
            seen.append("event loop")
        except RuntimeError:
            seen.append("worker thread")
        return parse(raw, model)

    monkeypatch.setattr(ingest_api, "_parse_body", recording)
    body = {"author": "Ada", "documents": [{"id": "p", "content": "parsed in a thread"}]}
    assert client.post("/v1/tenants/acme/documents", json=body).json()["stored"] == 1
    assert client.post("/v1/tenants/acme/documents", content=b"{not json").status_code == 422
    assert seen == ["worker thread", "worker thread"]


def test_every_route_but_health_needs_the_service_token(source_dsn):
    with TestClient(build_app(_settings(source_dsn))) as anonymous:
        assert anonymous.get("/healthz").status_code == 200 and anonymous.get("/readyz").status_code == 200
        body = {"author": "Ada", "documents": [{"id": "p", "content": "x"}]}
        for method, path, kwargs in [
            ("post", "/v1/tenants/acme/documents", {"json": body}),
            ("post", "/v1/tenants/acme/urls", {"json": {"author": "Ada", "urls": ["https://example.org/"]}}),
            ("get", "/v1/tenants/acme/documents", {}),
            ("delete", "/v1/tenants/acme/documents/00000000-0000-0000-0000-000000000000", {}),
        ]:
            for headers in ({}, {"x-twin-service-token": "not-the-token"}):
                response = getattr(anonymous, method)(path, headers=headers, **kwargs)
                assert response.status_code == 401, (method, path, headers)
    with psycopg.connect(source_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM documents").fetchone()[0] == 0


def test_without_a_configured_token_tenant_data_is_refused(source_dsn, caplog):
    from twin_common.settings import InternalAuthSettings

    settings = _settings(source_dsn, auth=InternalAuthSettings(service_token=None))
    with caplog.at_level("WARNING", logger="twin.auth"), TestClient(build_app(settings)) as unconfigured:
        refused = unconfigured.get("/v1/tenants/acme/documents", headers=service_token_header())
        assert refused.status_code == 401 and "no service token is configured" in refused.text
        assert unconfigured.get("/readyz").status_code == 200
    assert "TWIN_SERVICE_TOKEN is not set" in caplog.text


def test_a_database_that_is_down_is_503_not_a_crash():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        closed_port = free.getsockname()[1]
    settings = IngestSettings(
        postgres=PostgresSettings(port=closed_port), telemetry={"enabled": False, "spans_file": None}
    )
    with TestClient(build_app(settings), headers=service_token_header()) as client:
        body = {"author": "Ada", "documents": [{"id": "p", "content": "x"}]}
        response = client.post("/v1/tenants/acme/documents", json=body)
    assert response.status_code == 503 and "can be retried" in response.text
