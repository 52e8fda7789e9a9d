"""The gateway's calls to the ingest service: one sent on a pooled connection the server was closing (keep-alive
timeout) is sent again; a server that keeps failing, or is down, is UNAVAILABLE with a retry hint."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
from twin_gateway.errors import Code, GatewayError
from twin_gateway.stages.documents import _call


def resources_answering(*outcomes) -> tuple[SimpleNamespace, list[str]]:
    sent: list[str] = []
    queue = list(outcomes)

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.method} {request.url.path}")
        outcome = queue.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    client = httpx.AsyncClient(base_url="http://ingest", transport=httpx.MockTransport(handle))
    return SimpleNamespace(ingest=client), sent


async def test_a_request_on_a_connection_the_server_closed_is_sent_again():
    closed = httpx.RemoteProtocolError("Server disconnected without sending a response.")
    resources, sent = resources_answering(closed, httpx.Response(200, json={"documents": []}))
    response = await _call(resources, "GET", "/v1/tenants/acme/documents")
    assert response.json() == {"documents": []}
    assert sent == ["GET /v1/tenants/acme/documents"] * 2


@pytest.mark.parametrize(
    "outcomes",
    [
        [httpx.RemoteProtocolError("closed"), httpx.RemoteProtocolError("closed again")],  # sent twice at most
        [httpx.ConnectError("connection refused")],  # down: not resent here, the caller retries after the hint
    ],
)
async def test_an_ingest_service_that_stays_unreachable_is_unavailable(outcomes):
    resources, sent = resources_answering(*outcomes)
    with pytest.raises(GatewayError) as raised:
        await _call(resources, "DELETE", "/v1/tenants/acme/documents/d1")
    assert raised.value.code == Code.UNAVAILABLE and raised.value.retry_after_s == 1
    assert len(sent) == len(outcomes)
