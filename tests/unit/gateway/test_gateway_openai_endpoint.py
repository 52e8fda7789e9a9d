"""The OpenAI-compatible endpoint reads each answer's stream to its end (the `[DONE]` after the usage chunk) and
closes it, so the HTTP connection to the model goes back to the pool instead of a new one per request."""

from __future__ import annotations

import asyncio
import json

import httpx2
import openai
from twin_gateway.router.endpoints import OpenAIEndpoint, Sampling
from twin_gateway.router.routes import EndpointConfig


def chunk(delta: dict | None = None, finish=None, usage=None) -> bytes:
    data = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "stub-7", "choices": []}
    if usage is None:
        data["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    else:
        data["usage"] = usage
    return f"data: {json.dumps(data)}\n\n".encode()


class Body(httpx2.AsyncByteStream):
    def __init__(self, parts: list[bytes]):
        self.parts = parts
        self.reached_end = False
        self.closed = False

    async def __aiter__(self):
        for part in self.parts:
            yield part
        self.reached_end = True

    async def aclose(self) -> None:
        self.closed = True


def test_the_stream_is_read_to_its_end_and_closed():
    parts = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hello"}),
        chunk({"content": " there"}),
        chunk({}, "stop"),
        chunk(usage={"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}),
        b"data: [DONE]\n\n",
    ]
    bodies: list[Body] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = Body(parts)
        bodies.append(body)
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=body)

    endpoint = OpenAIEndpoint("stub", EndpointConfig(kind="openai", url="http://model.test/v1", model="stub"))
    endpoint.client = openai.AsyncOpenAI(
        base_url="http://model.test/v1",
        api_key="unused",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
    )

    async def run():
        return [p async for p in endpoint.stream([{"role": "user", "content": "hi"}], Sampling(8, 0.0))]

    pieces = asyncio.run(run())
    assert [p.text for p in pieces] == ["Hello", " there", ""]
    last = pieces[-1]
    assert (last.finish_reason, last.prompt_tokens, last.completion_tokens) == ("stop", 7, 2)
    assert last.model_version == "stub-7"
    assert bodies[0].reached_end  # the [DONE] after the usage chunk was read
    assert bodies[0].closed
