"""API keys and quotas on two gateway replicas sharing PostgreSQL and Redis (real processes): clear refusals,
revocation seen by every replica within 1 s, and the request bucket's 429 at the configured rate across both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import grpc
import httpx
import pytest
from gateway_harness import create_rig, drop_rig, make_key, start_gateway
from twin.v1 import twin_pb2 as pb
from twin.v1 import twin_pb2_grpc as pb_grpc

# services start inside the first test's time (a shared machine starts a model server in minutes)
pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    home = tmp_path_factory.mktemp("gateway-keys")
    rig = create_rig(home, connector=False)
    gateways = []
    try:
        for i in range(2):  # gateway only (no embedder), each over its own empty store
            gateways.append(
                start_gateway(rig, inference_url=None, ingest_url=None, embedder=False, store_path=home / f"store-{i}")
            )
        yield rig, gateways
    finally:
        for gateway in gateways:
            gateway.service.stop()
        drop_rig(rig)


def search(gateway, key: str | None, query: str = "bees") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.post(f"{gateway.rest_url}/v1/search", json={"query": query}, headers=headers, timeout=30)


def test_refusals_say_what_is_wrong(replicas):
    rig, (gateway, _) = replicas
    key = make_key(rig, f"t-{uuid.uuid4().hex[:6]}", scopes=("search",), routes=("twin",))
    assert search(gateway, key).status_code == 200

    missing = search(gateway, None)
    assert missing.status_code == 401 and "missing API key" in missing.json()["error"]["message"]
    assert search(gateway, "sk-not-ours").json()["error"]["message"].startswith("malformed API key")
    unknown = "twin_0123456789ab_" + "A" * 43
    assert search(gateway, unknown).json()["error"]["message"] == "unknown API key"
    wrong_secret = key[:-4] + "AAAA"
    assert search(gateway, wrong_secret).status_code == 401

    ask = httpx.post(
        f"{gateway.rest_url}/v1/ask", json={"question": "hi"}, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert ask.status_code == 403
    assert (
        "lacks the 'ask' scope" in ask.json()["error"]["message"] and ask.json()["error"]["code"] == "PERMISSION_DENIED"
    )

    stub = pb_grpc.GatewayStub(grpc.insecure_channel(gateway.grpc_url))
    with pytest.raises(grpc.RpcError) as raised:
        stub.Search(pb.SearchRequest(query="bees"), metadata=(("authorization", "Bearer nope"),), timeout=30)
    assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as raised:
        stub.Ask(pb.AskRequest(question="hi"), metadata=(("authorization", f"Bearer {key}"),), timeout=30)
    assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED


def test_a_route_the_key_may_not_use_is_refused(replicas):
    rig, (gateway, _) = replicas
    key = make_key(rig, f"t-{uuid.uuid4().hex[:6]}", routes=("base",))
    response = httpx.post(
        f"{gateway.rest_url}/v1/ask",
        json={"question": "what did I write about bees?"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert response.status_code == 403 and response.json()["error"]["field"] == "model"
    models = httpx.get(f"{gateway.rest_url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert models.json()["data"] == []  # the only route of this gateway is "twin"


def twin_keys(rig, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "twin_cli.main", "keys", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TWIN_PG_DATABASE": rig.database},
    )


def test_twin_keys_creates_lists_and_revokes_and_every_replica_refuses_within_a_second(replicas):
    rig, gateways = replicas
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    created = twin_keys(rig, "create", "--tenant", tenant, "--scopes", "search,feedback", "--json")
    assert created.returncode == 0, created.stderr
    record = json.loads(created.stdout)
    key = record["key"]
    assert record["tenant_id"] == tenant and record["scopes"] == ["search", "feedback"]

    listed = twin_keys(rig, "list", "--tenant", tenant, "--json")
    assert [k["id"] for k in json.loads(listed.stdout)] == [record["id"]]
    assert key not in listed.stdout and "hash" not in listed.stdout
    with __import__("psycopg").connect(rig.dsn) as conn:  # only a hash is stored
        stored = conn.execute("SELECT key_hash FROM api_keys WHERE id = %s", (record["id"],)).fetchone()[0]
    assert key.encode() not in bytes(stored) and len(bytes(stored)) == 32

    for gateway in gateways:  # both replicas know (and cache) the key
        assert search(gateway, key).status_code == 200
    revoked = twin_keys(rig, "revoke", record["id"])
    assert revoked.returncode == 0, revoked.stderr
    revoked_at = time.monotonic()
    time.sleep(max(0.0, 1.0 - (time.monotonic() - revoked_at)))
    for gateway in gateways:
        response = search(gateway, key)
        assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]
    assert twin_keys(rig, "revoke", "0123456789ab").returncode == 1


def test_the_request_quota_holds_across_two_replicas_with_retry_after(replicas):
    rig, gateways = replicas
    per_minute = 20
    key = make_key(rig, f"t-{uuid.uuid4().hex[:6]}", requests_per_minute=per_minute)
    statuses, retry_after = [], []
    started = time.monotonic()
    for i in range(34):
        response = search(gateways[i % 2], key)
        statuses.append(response.status_code)
        if response.status_code == 429:
            retry_after.append(int(response.headers["Retry-After"]))
            error = response.json()["error"]
            assert error["code"] == "RESOURCE_EXHAUSTED" and error["reason"] == "requests_per_minute"
    elapsed = time.monotonic() - started
    admitted = statuses.count(200)
    # the bucket holds 20 requests and refills 1 every 3 s, whichever replica takes them
    assert per_minute <= admitted <= per_minute + int(elapsed / 3) + 1, (statuses, elapsed)
    assert set(statuses) == {200, 429}
    assert statuses[:per_minute] == [200] * per_minute
    assert retry_after and all(1 <= s <= 3 for s in retry_after)

    stub = pb_grpc.GatewayStub(grpc.insecure_channel(gateways[1].grpc_url))
    with pytest.raises(grpc.RpcError) as raised:
        stub.Search(pb.SearchRequest(query="bees"), metadata=(("authorization", f"Bearer {key}"),), timeout=30)
    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert dict(raised.value.trailing_metadata())["retry-after"] in {"1", "2", "3"}
    assert gateways[0].metric("twin_gateway_quota_rejections_total", limit="requests_per_minute") >= 1
