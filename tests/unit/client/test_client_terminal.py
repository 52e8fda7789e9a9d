"""The terminal client without a gateway: where the key comes from (TWIN_API_KEY, then `twin login`'s file, kept
0600), how a streamed answer is read (Server-Sent Events, errors mid-stream) and printed (text as it comes, then
numbered citations), author names resolved to ids, and refusals turned into exit codes. A fake gateway
(httpx.MockTransport) answers."""

from __future__ import annotations

import io
import json
import stat

import httpx
import pytest
from twin_client import config
from twin_client.gateway import GatewayClient, GatewayError
from twin_client.terminal import BLOCKED, QUOTA, exit_code, stream_answer

FINAL = {
    "request_id": "r1",
    "done": True,
    "delta": "",
    "citations": [
        {"number": 1, "document_id": "d1", "title": "Winter hive check", "url": "", "position": 0, "score": 1.0}
    ],
    "model": "twin-llm",
    "model_version": "3",
    "route": "twin",
    "cache_hit": True,
    "cache_kind": "exact",
    "retracted": False,
    "guardrails": [],
}


def sse(*events: tuple[str | None, dict]) -> bytes:
    out = b""
    for name, data in events:
        out += (f"event: {name}\n" if name else "").encode() + b"data: " + json.dumps(data).encode() + b"\n\n"
    return out


def client_for(handler) -> GatewayClient:
    return GatewayClient("http://gw.test", "twin_k_s", transport=httpx.MockTransport(handler))


def test_the_key_comes_from_the_environment_before_the_login_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TWIN_CONFIG", str(tmp_path / "twin" / "config.json"))
    monkeypatch.delenv("TWIN_API_KEY", raising=False)
    monkeypatch.delenv("TWIN_GATEWAY_URL", raising=False)
    assert config.ClientConfig.load().api_key is None
    path = config.write_config("http://gw:1", "twin_file_key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds a key: its owner only
    loaded = config.ClientConfig.load()
    assert (loaded.api_key, loaded.gateway_url, loaded.key_source) == ("twin_file_key", "http://gw:1", str(path))
    monkeypatch.setenv("TWIN_API_KEY", "twin_env_key")
    assert config.ClientConfig.load().api_key == "twin_env_key"
    assert config.ClientConfig.load("http://other:2/").gateway_url == "http://other:2"
    monkeypatch.delenv("TWIN_API_KEY")
    assert config.forget_key() == path and config.ClientConfig.load().api_key is None


def test_a_streamed_answer_is_printed_as_it_comes_then_its_sources():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        assert request.headers["authorization"] == "Bearer twin_k_s"
        body = sse(
            (None, {"delta": "Eight ", "done": False}), (None, {"delta": "frames [1].", "done": False}), (None, FINAL)
        )
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    out, err = io.StringIO(), io.StringIO()
    answer = stream_answer(client_for(handler), {"question": "How many frames?"}, out, err)
    assert answer.text == "Eight frames [1]." and answer.request_id == "r1"
    assert out.getvalue() == (
        "Eight frames [1].\nSources:\n  [1] Winter hive check (passage 1) http://gw.test/app/passage?document=d1&position=0\n"
    )
    assert err.getvalue() == "model twin-llm v3 · route twin · cached answer (exact) · request r1\n"
    assert seen[0]["question"] == "How many frames?"


def test_a_retracted_answer_is_called_out():
    final = {**FINAL, "retracted": True, "guardrails": [{"rail": "output.toxicity", "decision": "retract"}]}

    def handler(request):
        return httpx.Response(200, content=sse((None, {"delta": "bad", "done": False}), (None, final)))

    out, err = io.StringIO(), io.StringIO()
    answer = stream_answer(client_for(handler), {"question": "q"}, out, err)
    assert answer.retracted and answer.as_dict()["answer"] == ""
    assert "withdrawn by a guardrail (output.toxicity)" in err.getvalue() and "Sources" not in out.getvalue()


@pytest.mark.parametrize(
    ("status", "body", "headers", "code"),
    [
        (
            422,
            {
                "error": {
                    "code": "FAILED_PRECONDITION",
                    "message": "blocked by input.injection",
                    "reason": "content_filter",
                }
            },
            {},
            BLOCKED,
        ),
        (429, {"error": {"code": "RESOURCE_EXHAUSTED", "message": "request rate limit"}}, {"Retry-After": "7"}, QUOTA),
        (401, {"error": {"code": "UNAUTHENTICATED", "message": "revoked"}}, {}, 1),
    ],
)
def test_refusals_are_explained_with_their_exit_code(status, body, headers, code):
    client = client_for(lambda request: httpx.Response(status, json=body, headers=headers))
    with pytest.raises(GatewayError) as refused:
        list(client.ask_stream({"question": "q"}))
    assert exit_code(refused.value) == code
    assert body["error"]["message"] in refused.value.explain()
    if status == 429:
        assert refused.value.explain().endswith("(retry after 7 s)")


def test_an_error_in_the_middle_of_the_stream_raises():
    def handler(request):
        return httpx.Response(
            200,
            content=sse(
                (None, {"delta": "x", "done": False}),
                ("error", {"error": {"code": "UNAVAILABLE", "message": "model down"}}),
            ),
        )

    with pytest.raises(GatewayError, match="model down"):
        list(client_for(handler).ask_stream({"question": "q"}))


def test_author_names_become_ids_and_an_unknown_one_is_named():
    authors = [{"id": "6f0c3b9e-0000-4000-8000-000000000001", "name": "Maren Holt", "documents": 3}]

    def handler(request):
        assert request.url.path == "/app/api/library" and request.url.params["limit"] == "0"
        return httpx.Response(200, json={"documents": [], "total": 0, "facets": {"authors": authors}})

    client = client_for(handler)
    uuid_given = "0e8b4c5e-1111-4222-8333-444455556666"
    assert client.author_ids(["maren holt", uuid_given]) == [authors[0]["id"], uuid_given]
    with pytest.raises(ValueError, match="no author named 'Ada' in your tenant \\(its authors: Maren Holt\\)"):
        client.author_ids(["Ada"])


def test_an_unreachable_gateway_is_a_clear_error():
    def handler(request):
        raise httpx.ConnectError("refused")

    with pytest.raises(GatewayError, match="not reachable"):
        list(client_for(handler).ask_stream({"question": "q"}))
