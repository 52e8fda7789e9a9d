"""Routing across two real inference servers: the primary endpoint is killed in the middle of a run of requests;
they go on succeeding on the fallback, the primary's circuit breaker opens (no more tries on it), and once the
primary is back, a half-open probe closes the breaker and the primary answers again. Every response names the
model and the endpoint that answered."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
import yaml
from gateway_harness import create_rig, drop_rig, make_key, start_gateway, start_inference, wait_until

RESET_S = 5


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("gateway-router")
    rig = create_rig(home, connector=False)
    services = []
    try:
        primary = start_inference(rig)  # both serve twin-llm (SmolLM2): the response's endpoint tells them apart
        services.append(primary.service)
        fallback = start_inference(rig)
        services.append(fallback.service)
        routes = home / "routes.yaml"
        routes.write_text(
            yaml.safe_dump(
                {
                    "default_route": "twin",
                    "endpoints": {
                        "primary": {
                            "kind": "kserve-grpc",
                            "url": primary.grpc_url,
                            "model": "twin-llm",
                            "timeout_s": 30,
                            "breaker": {"failures": 2, "reset_s": RESET_S},
                        },
                        "fallback": {"kind": "kserve-grpc", "url": fallback.grpc_url, "model": "twin-llm"},
                    },
                    "routes": {
                        "twin": {"endpoints": ["primary", "fallback"], "retries": 1, "backoff_s": 0.05, "max_tokens": 6}
                    },
                }
            )
        )
        gateway = start_gateway(rig, inference_url=None, ingest_url=None, embedder=False, routes_file=routes)
        services.append(gateway.service)
        yield rig, gateway, primary, fallback, make_key(rig, "router-test")
    finally:
        for service in reversed(services):
            service.stop()
        drop_rig(rig)


def ask(gateway, key: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.rest_url}/v1/ask",
        json={"question": "Tell me about my notes on bees."},
        headers={"Authorization": f"Bearer {key}"},
        timeout=300,
    )


@pytest.mark.timeout(2400)  # two model servers start, one restarts, on a shared 2-core machine
def test_the_fallback_answers_while_the_primary_is_down_and_the_breaker_opens_then_closes(world):
    rig, gateway, primary, fallback, key = world
    first = ask(gateway, key)
    assert first.status_code == 200, first.text
    assert (first.json()["endpoint"], first.json()["model"]) == ("primary", "twin-llm")
    assert gateway.metric("twin_gateway_breaker_state", endpoint="primary") == 0

    # a run of requests; the primary is killed during it
    results: list[tuple[float, int, str]] = []

    def run() -> None:
        for _ in range(6):
            response = ask(gateway, key)
            model = response.json().get("endpoint", "") if response.status_code == 200 else ""
            results.append((time.monotonic(), response.status_code, model))

    runner = threading.Thread(target=run)
    runner.start()
    wait_until(lambda: len(results) >= 1, 300, "the run to get going")
    primary.service.kill()
    killed_at = time.monotonic()
    runner.join(timeout=1200)
    assert not runner.is_alive()

    after = [(status, model) for at, status, model in results if at > killed_at]
    # at most the one request that was on the primary when it died fails (cleanly: 503, never a 500 or a hang)
    failed = [status for status, _ in after if status != 200]
    assert len(failed) <= 1 and set(failed) <= {503}, results
    answered = [model for status, model in after if status == 200]
    assert len(answered) >= 4 and set(answered) == {"fallback"}, results
    assert gateway.metric("twin_gateway_breaker_state", endpoint="primary") == 2  # open
    assert gateway.metric("twin_gateway_fallbacks_total", route="twin", endpoint="primary", reason="breaker_open") >= 1

    # the primary comes back on the same address; after the reset time one probe closes the breaker
    primary.service.start()
    primary.service.wait_http_ok(f"http://{primary.http_url}/v2/health/ready", 600)
    time.sleep(RESET_S)

    def primary_answers() -> bool:
        response = ask(gateway, key)
        return response.status_code == 200 and response.json()["endpoint"] == "primary"

    wait_until(primary_answers, 300, "the primary to answer again", interval=RESET_S)
    assert gateway.metric("twin_gateway_breaker_state", endpoint="primary") == 0
