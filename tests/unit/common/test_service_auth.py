"""The shared service token on the server side, and where services listen by default."""

from __future__ import annotations

import importlib

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from twin_common.service_auth import ServiceTokenCheck, ServiceTokenMiddleware, service_token_header
from twin_common.settings import SERVICE_TOKEN_HEADER, InternalAuthSettings


def test_the_token_is_compared_exactly_and_an_unset_token_accepts_nothing():
    check = ServiceTokenCheck("s3cret")
    assert check.accepts("s3cret") and check.accepts(b"s3cret")
    assert not any(check.accepts(t) for t in (None, "", "s3cre", "s3cret ", "S3CRET", "\udc80"))
    unset = ServiceTokenCheck(None)
    assert not unset.configured and not unset.accepts("") and not unset.accepts("anything")
    assert "no service token is configured" in unset.refusal()


def test_the_middleware_guards_everything_but_the_open_paths():
    app = FastAPI()
    app.get("/healthz")(lambda: {"ok": True})
    app.get("/v2/models/{name}/ready")(lambda name: {"ready": True})
    app.post("/v2/models/{name}/infer")(lambda name: {"data": "tenant text"})
    app.add_middleware(
        ServiceTokenMiddleware, check=ServiceTokenCheck("t0ken"), open_paths=["/healthz", "/v2/models/[^/]+/ready"]
    )
    client = TestClient(app)
    assert client.get("/healthz").status_code == 200
    assert client.get("/v2/models/twin-embed/ready").status_code == 200
    assert client.get("/v2/models/twin-embed/ready/../../x").status_code in (401, 404)
    refused = client.post("/v2/models/twin-embed/infer")
    assert refused.status_code == 401 and SERVICE_TOKEN_HEADER in refused.json()["error"]
    assert client.post("/v2/models/twin-embed/infer", headers={SERVICE_TOKEN_HEADER: "t0ken"}).status_code == 200


def test_callers_send_the_configured_token():
    assert service_token_header(InternalAuthSettings(service_token="abc")) == {SERVICE_TOKEN_HEADER: "abc"}
    assert service_token_header(InternalAuthSettings(service_token=None)) == {}


@pytest.mark.parametrize(
    "module, cls",
    [
        ("twin_ingest.settings", "IngestSettings"),
        ("twin_embedder.settings", "EmbedderSettings"),
        ("twin_inference.settings", "InferenceSettings"),
        ("twin_cdc.settings", "CdcSettings"),
        ("twin_gateway.settings", "GatewaySettings"),
        ("twin_trainer.settings", "TrainerSettings"),
        ("twin_monitor.settings", "MonitorSettings"),
    ],
)
def test_services_listen_on_loopback_by_default(module, cls, monkeypatch):
    monkeypatch.delenv("TWIN_HTTP_HOST", raising=False)
    settings = getattr(importlib.import_module(module), cls)()
    assert settings.http_host == "127.0.0.1"


@pytest.mark.parametrize("otel_first", [True, False])
async def test_grpc_calls_without_the_token_are_unauthenticated_behind_other_interceptors(otel_first):
    """Unary and streaming methods, next to OpenTelemetry's server interceptor (it iterates streaming behaviours:
    a refusal that is not an async generator broke there with a TypeError instead of UNAUTHENTICATED)."""
    import grpc
    from opentelemetry.instrumentation.grpc import aio_server_interceptor
    from twin_common.service_auth import ServiceTokenInterceptor

    async def echo(request: bytes, context) -> bytes:
        return request

    async def echo_stream(requests, context):
        async for request in requests:
            yield request

    identity = {"request_deserializer": None, "response_serializer": None}
    handlers = grpc.method_handlers_generic_handler(
        "t.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(echo, **identity),
            "Stream": grpc.stream_stream_rpc_method_handler(echo_stream, **identity),
        },
    )
    token = ServiceTokenInterceptor(ServiceTokenCheck("t0ken"), open_methods=())
    interceptors = [aio_server_interceptor(), token] if otel_first else [token, aio_server_interceptor()]
    server = grpc.aio.server(interceptors=interceptors)
    server.add_generic_rpc_handlers((handlers,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            unary, stream = channel.unary_unary("/t.Echo/Unary"), channel.stream_stream("/t.Echo/Stream")
            good = ((SERVICE_TOKEN_HEADER, "t0ken"),)
            assert await unary(b"hi", metadata=good, timeout=10) == b"hi"
            assert [r async for r in stream(iter([b"a", b"b"]), metadata=good, timeout=10)] == [b"a", b"b"]
            for metadata in ((), ((SERVICE_TOKEN_HEADER, "wrong"),)):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await unary(b"hi", metadata=metadata, timeout=10)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    [r async for r in stream(iter([b"a"]), metadata=metadata, timeout=10)]
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
                assert SERVICE_TOKEN_HEADER in refused.value.details()
    finally:
        await server.stop(None)
