"""A document ingested through the gateway becomes a streamed, cited answer over REST (SSE), gRPC and the
official openai SDK; after an edit the answer cites the new text; after the delete no answer cites it.

Real processes: the inference server (SmolLM2), the ingest service, the gateway with the embedder's CDC
consumer in the same process (tests/gateway_node.py, as `twin node` runs them), PostgreSQL -> Debezium ->
Kafka in between."""

from __future__ import annotations

import json

import grpc
import httpx
import openai
import pytest
from gateway_harness import make_key, running_platform, wait_until
from twin.v1 import twin_pb2 as pb
from twin.v1 import twin_pb2_grpc as pb_grpc

TENANT = "e2e-gateway"
QUESTION = "How many frames of capped honey should the hive keep before winter?"
MAX_TOKENS = 12


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with running_platform(tmp_path_factory.mktemp("gateway-e2e")) as platform:
        yield platform.rig, platform.gateway, make_key(platform.rig, TENANT)


def sse_events(response: httpx.Response) -> list[tuple[str, dict]]:
    events, name = [], "message"
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((name, json.loads(line.removeprefix("data: "))))
            name = "message"
    return events


def searchable(http: httpx.Client, text: str) -> str | None:
    """The id of the document whose chunk contains `text`, once search finds it."""
    hits = http.post("/v1/search", json={"query": QUESTION, "top_k": 5}).json()["hits"]
    return next((h["document_id"] for h in hits if text in h["text"]), None)


def rest_stream(http: httpx.Client) -> tuple[list[str], dict]:
    with http.stream(
        "POST", "/v1/ask/stream", json={"question": QUESTION, "generation": {"max_tokens": MAX_TOKENS}}
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    assert all(name == "message" for name, _ in events), events
    deltas = [data["delta"] for _, data in events if not data["done"]]
    finals = [data for _, data in events if data["done"]]
    assert len(finals) == 1 and events[-1][1]["done"]
    return deltas, finals[0]


@pytest.mark.timeout(1800)  # service start-up included; CPU generation on a shared 2-core machine
def test_an_ingested_document_becomes_a_streamed_cited_answer_and_edits_and_deletes_follow(world):
    rig, gateway, key = world
    http = httpx.Client(base_url=gateway.rest_url, headers={"Authorization": f"Bearer {key}"}, timeout=180)
    document = {
        "external_id": "notes/winter-hive.md",
        "kind": "note",
        "title": "Winter hive check",
        "content": "Before winter the hive should keep eight frames of capped honey, a laying queen and a mouse "
        "guard on the entrance. Heft the hive from the back to judge its weight.",
    }
    other = {
        "external_id": "posts/kafka.md",
        "kind": "post",
        "title": "Consumer groups",
        "content": "A Kafka consumer group shares the partitions of a topic between its members.",
    }
    report = http.post("/v1/documents", json={"author": "alex", "documents": [document, other]})
    assert report.status_code == 200, report.text
    assert report.json()["stored"] == 2

    document_id = wait_until(lambda: searchable(http, "eight frames"), 120, "the document to be searchable")

    # REST: Server-Sent Events, token by token, the last event with citations, usage, model and version
    deltas, final = rest_stream(http)
    assert len(deltas) >= 3, deltas
    assert final["citations"][0]["document_id"] == document_id
    assert "eight frames" in final["citations"][0]["snippet"]
    assert final["model"] and final["model_version"] and final["template_version"] == "grounded-v1"
    assert final["usage"]["completion_tokens"] >= len(deltas)

    # gRPC: AskStream
    channel = grpc.insecure_channel(gateway.grpc_url)
    stub = pb_grpc.GatewayStub(channel)
    metadata = (("authorization", f"Bearer {key}"),)
    chunks = list(
        stub.AskStream(
            pb.AskRequest(question=QUESTION, generation=pb.GenerationOptions(max_tokens=MAX_TOKENS)),
            metadata=metadata,
            timeout=180,
        )
    )
    assert len([c for c in chunks if not c.done and c.delta]) >= 3
    assert chunks[-1].done and chunks[-1].citations[0].document_id == document_id
    assert chunks[-1].model == final["model"]

    # the openai SDK, unchanged, streaming with usage
    client = openai.OpenAI(base_url=f"{gateway.rest_url}/v1", api_key=key, timeout=180)
    assert "twin" in [m.id for m in client.models.list()]
    stream = client.chat.completions.create(
        model="twin",
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=MAX_TOKENS,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, citations, usage, finish = [], None, None, None
    for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
            citations = (chunk.model_extra or {}).get("citations") or citations
        if chunk.usage is not None:
            usage = chunk.usage
    assert len([p for p in pieces if p]) >= 3 and finish in ("stop", "length")
    assert citations[0]["document_id"] == document_id
    assert usage.completion_tokens >= 1

    # an edit through gRPC Ingest (same external id): the answer cites the new text
    edited = pb.IngestDocument(
        external_id=document["external_id"],
        kind=pb.DOCUMENT_KIND_NOTE,
        title=document["title"],
        content="Before winter the hive should keep twelve frames of capped honey and a young queen.",
    )
    response = stub.Ingest(pb.IngestRequest(author="alex", documents=[edited]), metadata=metadata, timeout=60)
    assert response.updated == 1
    wait_until(lambda: searchable(http, "twelve frames"), 120, "the edit to be searchable")
    answer = stub.Ask(
        pb.AskRequest(question=QUESTION, generation=pb.GenerationOptions(max_tokens=8)), metadata=metadata, timeout=180
    )
    cited = [c for c in answer.citations if c.document_id == document_id]
    assert cited and "twelve frames" in cited[0].snippet and "eight frames" not in cited[0].snippet

    # the delete: no answer cites the document any more, at once (PostgreSQL is checked at answer time)
    assert http.delete(f"/v1/documents/{document_id}").status_code == 200
    _, final = rest_stream(http)
    assert document_id not in [c["document_id"] for c in final["citations"]]
    listed = http.get("/v1/documents").json()["documents"]
    assert document_id not in [d["document_id"] for d in listed]
