"""The ingest REST API on the real database: reports, 4xx on bad requests, tenants kept apart."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from ingest_support import serve_folder
from twin_common.service_auth import service_token_header
from twin_common.settings import PostgresSettings
from twin_ingest.api import build_app
from twin_ingest.settings import IngestSettings


@pytest.fixture
def client(source_dsn):
    database = source_dsn.rsplit("/", 1)[1]
    settings = IngestSettings(
        postgres=PostgresSettings(database=database),
        max_document_bytes=1000,
        telemetry={"enabled": False, "spans_file": None},
        fetch_allowed_networks=["127.0.0.1/32"],  # the test's own page server; loopback is refused otherwise
    )
    with TestClient(build_app(settings), headers=service_token_header()) as test_client:
        yield test_client


def test_post_documents_reports_outcomes_and_is_idempotent(client):
    body = {
        "author": "Ada",
        "documents": [
            {"id": "p1", "content": "first post", "tags": ["a"]},
            {"id": "p2", "content": "   "},
            {"id": "p3", "content": "z" * 2000},
        ],
    }
    first = client.post("/v1/tenants/acme/documents", json=body)
    assert first.status_code == 200
    assert first.json()["stored"] == 1
    assert {r["external_id"]: r["reason"] for r in first.json()["rejections"]} == {"p2": "empty", "p3": "too_large"}
    assert client.post("/v1/tenants/acme/documents", json=body).json()["unchanged"] == 1
    body["documents"][0]["content"] = "first post, edited"
    assert client.post("/v1/tenants/acme/documents", json=body).json()["updated"] == 1
    assert client.get("/readyz").status_code == 200


def test_bad_requests_get_4xx_with_a_reason(client):
    assert client.post("/v1/tenants/acme/documents", json={"author": "Ada", "documents": []}).status_code == 422
    wrong_kind = client.post(
        "/v1/tenants/acme/documents",
        json={"author": "Ada", "documents": [{"id": "x", "content": "c", "kind": "tweet"}]},
    )
    assert wrong_kind.status_code == 422 and "kind" in wrong_kind.text
    assert (
        client.post(
            "/v1/tenants/bad%20tenant/documents", json={"author": "Ada", "documents": [{"id": "x", "content": "c"}]}
        ).status_code
        == 422
    )
    assert client.delete("/v1/tenants/acme/documents/not-a-uuid").status_code == 422


def test_tenants_never_see_or_delete_each_others_documents(client):
    client.post("/v1/tenants/acme/documents", json={"author": "Ada", "documents": [{"id": "a", "content": "mine"}]})
    client.post("/v1/tenants/globex/documents", json={"author": "Bob", "documents": [{"id": "g", "content": "ours"}]})
    acme = client.get("/v1/tenants/acme/documents").json()
    globex = client.get("/v1/tenants/globex/documents").json()
    assert [d["external_id"] for d in acme] == ["a"] and [d["external_id"] for d in globex] == ["g"]
    assert client.delete(f"/v1/tenants/acme/documents/{globex[0]['id']}").status_code == 404
    assert client.delete(f"/v1/tenants/globex/documents/{globex[0]['id']}").status_code == 204
    assert client.get("/v1/tenants/globex/documents").json() == []


def test_post_urls_fetches_pages_from_a_local_server(client, tmp_path):
    (tmp_path / "page.html").write_text("<title>Served</title><p>fetched text</p>")
    with serve_folder(tmp_path) as base:
        report = client.post(
            "/v1/tenants/acme/urls", json={"author": "Ada", "urls": [f"{base}/page.html", f"{base}/gone.html"]}
        ).json()
    assert report["stored"] == 1
    assert report["rejections"] == [
        {"external_id": f"{base}/gone.html", "reason": "fetch_failed", "detail": "HTTP 404"}
    ]
    assert [d["title"] for d in client.get("/v1/tenants/acme/documents").json()] == ["Served"]
