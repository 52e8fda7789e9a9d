"""Bad input never gets a 5xx, a stack trace or a hang: a schema-driven fuzz of the published OpenAPI document
(schemathesis, in process against the ASGI app, every operation, valid and invalid data), targeted cases the
fuzzer does not reach (malformed JSON, invalid UTF-8, lone surrogates, oversized bodies), and the gRPC
surface fed malformed messages. The gateway runs against the real PostgreSQL and Redis of the local stack."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import grpc
import httpx
import pytest
import schemathesis
from gateway_harness import (
    create_rig,
    drop_rig,
    free_port,
    make_key,
    new_suffix,
    rig_database,
    start_gateway,
    start_ingest,
)
from hypothesis import HealthCheck, settings
from schemathesis.config._checks import NegativeDataRejectionConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance
from twin.v1 import twin_pb2 as pb

MAX_BODY = 64_000

# services start inside the first test's time (a shared machine starts a model server in minutes)
pytestmark = pytest.mark.timeout(1800)


SUFFIX = new_suffix()
INGEST_PORT = free_port()  # the real ingest service runs there (started with the rig)


def build_app():
    """The ASGI app, built without starting anything: its lifespan starts the gateway on first use."""
    from twin_common.settings import PostgresSettings
    from twin_gateway.settings import (
        GatewaySettings,
        LimitSettings,
        QuotaSettings,
        RequestLogSettings,
        WebAppSettings,
    )
    from twin_gateway.surfaces.http_app import create_asgi_app

    settings = GatewaySettings(
        postgres=PostgresSettings(database=rig_database(SUFFIX)),
        store_path=Path(tempfile.gettempdir()) / f"twin-gateway-fuzz-{SUFFIX}" / "store",
        inference_url="127.0.0.1:9",  # nothing listens: an ask that gets this far is UNAVAILABLE, never a crash
        ingest_url=f"http://127.0.0.1:{INGEST_PORT}",
        request_log=RequestLogSettings(enabled=False),
        quota=QuotaSettings(key_prefix=f"twin:test:{SUFFIX}:quota", requests_per_minute=100_000),
        limits=LimitSettings(max_body_bytes=MAX_BODY),
        webapp=WebAppSettings(journey_enabled=False),  # no document journeys to follow here
    )
    return create_asgi_app(settings)


APP = build_app()
# The document the app publishes, called in process through schemathesis' ASGI transport. (`from_asgi` would
# fetch it by starting the app's lifespan while pytest collects, before the local stack is up; this is the same
# loader minus that fetch.)
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP
schema.location = "/openapi.json"
# A body over the size limit is refused 413 (PAYLOAD_TOO_LARGE, naming the field): a clear refusal of invalid data,
# which schemathesis' default list of refusals leaves out.
schema.config.checks.negative_data_rejection = NegativeDataRejectionConfig(
    expected_statuses=[*schema.config.checks.negative_data_rejection.expected_statuses, "413"]
)


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    rig = create_rig(tmp_path_factory.mktemp("gateway-bad-input"), connector=False, suffix=SUFFIX)
    ingest, _ = start_ingest(rig, port=INGEST_PORT)
    yield rig
    ingest.stop()
    drop_rig(rig)


@pytest.fixture(scope="module")
def search_key(rig):
    # search-scoped: searches and embeddings run for real; asks, ingests and feedback stop at 403
    return make_key(rig, f"fuzz-{uuid.uuid4().hex[:6]}", scopes=("search",))


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gets_a_server_error_or_an_undocumented_answer(case, search_key):
    # Valid data is refused 401/403 by design here (keys and scopes), so "valid data is accepted" does not apply;
    # every other check does: no 5xx, documented status codes, content types and bodies, invalid data refused 4xx.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {search_key}"}, excluded_checks=[positive_data_acceptance]
    )


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_without_a_key_nothing_is_served_but_health(case, rig):
    response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
    if case.path.startswith("/v1/") and case.path != "/v1/health" and response.status_code < 300:
        pytest.fail(f"{case.method} {case.path} answered {response.status_code} without a key")


@pytest.fixture(scope="module")
def client(rig):
    from schemathesis.python import asgi

    with asgi.get_client(APP) as session:  # the same in-process app (its lifespan runs once)
        yield session


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/ask", b'{"question": "x"', "body"),  # malformed JSON
        ("/v1/ask", b'{"question": "caf\xe9"}', "body"),  # not UTF-8
        ("/v1/ask", b'{"question": "\\ud800"}', "question"),  # a lone surrogate, spelled in JSON
        ("/v1/ask", b'{"question": "q", "top_k": 1.5}', "top_k"),
        ("/v1/ask", b'{"question": "q", "top_k": true}', "top_k"),
        ("/v1/ask", b'{"question": "q", "unknown": 1}', "unknown"),
        ("/v1/ask", b"{}", "question"),
        ("/v1/ask", b'{"question": "q", "filters": {"kinds": ["poem"]}}', "filters.kinds[0]"),
        ("/v1/search", b'{"query": ""}', "query"),
        ("/v1/feedback", b'{"request_id": "r", "rating": 2}', "rating"),
        ("/v1/documents", b'{"author": "a", "documents": []}', "documents"),
        ("/v1/chat/completions", b'{"model": "twin", "messages": []}', "messages"),
        ("/v1/chat/completions", b'{"model": "twin", "messages": [{"role": "user", "content": "\\udfff"}]}', None),
        ("/v1/embeddings", b'{"model": "twin-embed", "input": []}', "input"),
    ],
)
def test_bad_bodies_get_400_naming_the_field(client, search_key, path, body, field):
    response = client.post(
        path, data=body, headers={"Authorization": f"Bearer {search_key}", "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    if path.startswith("/v1/chat") or path.startswith("/v1/embeddings"):
        assert error["type"] == "invalid_request_error" and (field is None or error["param"] == field)
    else:
        assert error["code"] == "INVALID_ARGUMENT" and error["field"] == field
    assert "Traceback" not in response.text


def test_too_large_bodies_get_413_declared_or_streamed(client, search_key):
    headers = {"Authorization": f"Bearer {search_key}", "Content-Type": "application/json"}
    big = b'{"question": "' + b"a" * MAX_BODY + b'"}'
    assert client.post("/v1/ask", data=big, headers=headers).status_code == 413

    def chunks():
        yield b'{"question": "'
        for _ in range(MAX_BODY // 1000 + 1):
            yield b"a" * 1000
        yield b'"}'

    response = client.post("/v1/ask", data=chunks(), headers=headers)  # no Content-Length: counted as it comes
    assert response.status_code == 413 and response.json()["error"]["field"] == "body"


def test_too_many_messages_and_tokens_are_refused(client, search_key):
    headers = {"Authorization": f"Bearer {search_key}"}
    messages = [{"role": "user", "content": "hi"}] * 65
    response = client.post("/v1/chat/completions", json={"model": "twin", "messages": messages}, headers=headers)
    assert response.status_code == 400 and response.json()["error"]["param"] == "messages"
    response = client.post(
        "/v1/chat/completions",
        json={"model": "twin", "messages": [{"role": "user", "content": "q"}], "max_tokens": 100_000},
        headers=headers,
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "max_tokens"
    response = client.post("/v1/ask", json={"question": "q", "generation": {"max_tokens": 100_000}}, headers=headers)
    assert response.status_code == 400 and response.json()["error"]["field"] == "generation.max_tokens"


# --- gRPC --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grpc_gateway(rig):
    gateway = start_gateway(rig, inference_url=None, ingest_url=None, embedder=False)
    yield gateway
    gateway.service.stop()


def raw_call(channel, method: str, payload: bytes, key: str):
    call = channel.unary_unary(
        f"/twin.v1.Gateway/{method}", request_serializer=lambda b: b, response_deserializer=lambda b: b
    )
    return call(payload, metadata=(("authorization", f"Bearer {key}"),), timeout=60)


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xff\xff\xff",  # not a protobuf message
        b"\x0a\x05ab",  # a string field cut short
        b"\x0a\x02\xc3\x28",  # question = invalid UTF-8
        b"\x0a\x02\xed\xa0",  # question = an encoded surrogate
        b"\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # a varint too long
    ],
)
@pytest.mark.parametrize("method", ["Ask", "Search", "Ingest", "Feedback", "DeleteDocument"])
def test_malformed_grpc_messages_are_invalid_argument(grpc_gateway, rig, method, payload):
    key = make_key(rig, f"grpc-{uuid.uuid4().hex[:6]}")
    channel = grpc.insecure_channel(grpc_gateway.grpc_url)
    with pytest.raises(grpc.RpcError) as raised:
        raw_call(channel, method, payload, key)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT, raised.value.details()
    assert "malformed" in raised.value.details()


@pytest.mark.parametrize(
    ("method", "message", "field"),
    [
        ("Ask", pb.AskRequest(question=""), "question"),
        ("Ask", pb.AskRequest(question="q", top_k=-3), "top_k"),
        ("Ask", pb.AskRequest(question="q", filters=pb.SearchFilters(kinds=[42])), "filters.kinds[0]"),
        ("Ask", pb.AskRequest(question="q", generation=pb.GenerationOptions(model="nope")), "model"),
        ("Search", pb.SearchRequest(query="q", top_k=1000), "top_k"),
        ("Ingest", pb.IngestRequest(author="", documents=[pb.IngestDocument(external_id="x")]), "author"),
        ("Feedback", pb.FeedbackRequest(request_id="r", rating=-7), "rating"),
        ("DeleteDocument", pb.DeleteDocumentRequest(document_id="not-a-uuid"), "document_id"),
    ],
)
def test_bad_grpc_values_are_invalid_argument_naming_the_field(grpc_gateway, rig, method, message, field):
    key = make_key(rig, f"grpc-{uuid.uuid4().hex[:6]}")
    channel = grpc.insecure_channel(grpc_gateway.grpc_url)
    with pytest.raises(grpc.RpcError) as raised:
        raw_call(channel, method, message.SerializeToString(), key)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith(field), raised.value.details()


def test_an_oversized_grpc_message_is_refused_not_crashed(grpc_gateway, rig):
    key = make_key(rig, f"grpc-{uuid.uuid4().hex[:6]}")
    channel = grpc.insecure_channel(grpc_gateway.grpc_url, options=[("grpc.max_send_message_length", 10_000_000)])
    with pytest.raises(grpc.RpcError) as raised:
        raw_call(channel, "Ask", pb.AskRequest(question="a" * 3_000_000).SerializeToString(), key)
    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    health = httpx.get(f"{grpc_gateway.rest_url}/healthz", timeout=10)
    assert health.status_code == 200
