"""Helpers of the trainer's integration tests, reusable by e2e tests (the gateway's model_version check):

- `ingest_corpus`: the sample corpus (or any folders / JSONL files) into PostgreSQL for a unique tenant, through
  the ingest service's importers and store (what `twin ingest` does);
- `tiny_run_config`: a twin run small enough for CPU tests (few steps, short sequences, tiny LoRA);
- `wait_for_model_version`: polls a running inference service through twin_inference_client until the LLM
  answers with the expected model_version.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from stack_support import free_port, wait_for
from twin_common.settings import PostgresSettings, repo_root

SAMPLE_CORPUS = repo_root() / "samples" / "corpus"
SAMPLE_AUTHOR = "Maren Holt"


def ingest_corpus(
    tenant: str, author: str = SAMPLE_AUTHOR, sources: list[Path] | None = None, dsn: str | None = None
) -> dict[str, int]:
    from twin_ingest.db import migrate
    from twin_ingest.pipeline import run_import
    from twin_ingest.sources import open_source
    from twin_ingest.store import DocumentStore

    dsn = dsn or PostgresSettings().dsn()
    migrate(dsn)
    sources = sources or [SAMPLE_CORPUS / "articles", SAMPLE_CORPUS / "posts.jsonl", SAMPLE_CORPUS / "notes"]
    stored: dict[str, int] = {}
    with DocumentStore(dsn) as store:
        for source in sources:
            report = run_import(open_source(str(source)), store, tenant, author)
            stored[source.name] = report.stored + report.updated + report.unchanged
    return stored


def delete_tenant(tenant: str, dsn: str | None = None) -> None:
    import psycopg

    with psycopg.connect(dsn or PostgresSettings().dsn(), autocommit=True) as conn:
        conn.execute("DELETE FROM tenants WHERE id = %s", (tenant,))
        for table in ("trainer_pending_changes", "trainer_triggers"):
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0]:
                conn.execute(f"DELETE FROM {table} WHERE tenant_id = %s", (tenant,))


def author_id_of(tenant: str, author: str = SAMPLE_AUTHOR) -> str:
    from twin_trainer.llm.snapshot import resolve_author

    return resolve_author(PostgresSettings().dsn(), tenant, author)[0]


def tiny_run_config(tenant: str, author: str = SAMPLE_AUTHOR, **changes):
    """A complete twin run (SFT and DPO, evaluation, gate, registry) that fits a CPU test: two SFT steps and one
    DPO step of two short sequences, a rank-4 adapter on q/v, two held-out questions of 12 tokens."""
    from twin_trainer.llm.config import (
        DatasetSettings,
        DpoSettings,
        EvalSettings,
        LoraSettings,
        SftSettings,
        TwinRunConfig,
    )

    config = TwinRunConfig(
        author=author,
        tenant=tenant,
        lora=LoraSettings(r=4, alpha=8, target_modules=("q_proj", "v_proj")),
        sft=SftSettings(epochs=1, batch_size=2, grad_accumulation=1, max_length=96, max_steps=2),
        dpo=DpoSettings(batch_size=2, grad_accumulation=1, max_length=96, max_steps=1),
        dataset=DatasetSettings(preference_pairs=2, rejected_max_new_tokens=12, include_feedback=True),
        evaluation=EvalSettings(
            max_heldout_passages=4, ppl_max_length=96, generations=2, max_new_tokens=12, rag_top_k=1
        ),
    )
    return replace(config, **changes)


def wait_for_model_version(
    generate: Callable[[], str | None], expected: str, timeout_s: float = 180.0, interval_s: float = 1.0
) -> str:
    """Call `generate()` (a request that returns the answer's model_version) until it returns `expected`."""
    deadline = time.monotonic() + timeout_s
    seen: list[str | None] = []
    while time.monotonic() < deadline:
        try:
            version = generate()
        except Exception as exc:  # noqa: BLE001 - the server may be swapping or starting
            version = f"error: {exc}"
        seen.append(version)
        if version == expected:
            return version
        time.sleep(interval_s)
    raise AssertionError(f"model_version never became {expected!r} within {timeout_s} s; last answers: {seen[-5:]}")


# --- a running inference service serving only the LLM under a test's registered name ------------------


@dataclass
class LlmServer:
    """`python -m twin_inference` serving twin-llm from `registered_name@champion` (the bundled SmolLM2 until a
    version is registered), watching `models_topic` for ModelRegistered events (the alias poll is slowed to 10
    minutes, so a swap within a test proves the event path)."""

    registered_name: str
    models_topic: str
    http_url: str
    grpc_url: str
    log_path: Path
    process: subprocess.Popen

    @classmethod
    def start(cls, registered_name: str, models_topic: str, log_dir: Path, download_cache: Path) -> LlmServer:
        http_port, grpc_port = free_port(), free_port()
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "TWIN_HTTP_HOST": "127.0.0.1",
            "TWIN_HTTP_PORT": str(http_port),
            "TWIN_GRPC_PORT": str(grpc_port),
            "TWIN_SERVE_EMBED": "false",
            "TWIN_SERVE_RERANK": "false",
            "TWIN_LLM_REGISTERED_NAME": registered_name,
            "TWIN_MODELS_TOPIC": models_topic,
            "TWIN_POLL_INTERVAL_S": "600",
            "TWIN_MAX_PROMPT_TOKENS": "256",
            "TWIN_MAX_NEW_TOKENS": "32",
            "TWIN_LOG_JSON": "false",
            "TWIN_DOWNLOAD_CACHE": str(download_cache),
        }
        log_path = log_dir / f"inference-{http_port}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "twin_inference"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        return cls(registered_name, models_topic, f"127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", log_path, process)

    def wait_ready(self, timeout_s: float = 300.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"inference server exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"http://{self.http_url}/v2/models/twin-llm/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"inference server not ready in {timeout_s} s:\n{self.tail()}")

    def answer_version(self, prompt: str = "Write a short post about small batches.") -> str | None:
        """The model_version of one short greedy answer (through twin_inference_client, REST)."""
        from twin_inference_client import InferenceClient

        with InferenceClient(self.http_url, "http", timeout_s=120, retries=0) as client:
            return client.generate(prompt, params={"max_tokens": 4, "temperature": 0}).model_version

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def create_topics(*topics: str) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic
    from twin_common.settings import KafkaSettings

    admin = KafkaAdminClient(bootstrap_servers=KafkaSettings().bootstrap_servers)
    try:
        admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1) for t in topics])
    finally:
        admin.close()


def delete_topics(*topics: str) -> None:
    from kafka.admin import KafkaAdminClient
    from twin_common.settings import KafkaSettings

    admin = KafkaAdminClient(bootstrap_servers=KafkaSettings().bootstrap_servers)
    try:
        existing = set(admin.list_topics())
        if mine := [t for t in topics if t in existing]:
            admin.delete_topics(mine)
    finally:
        admin.close()


def delete_registered_model(name: str) -> None:
    from mlflow.tracking import MlflowClient
    from twin_common.settings import MlflowSettings

    uri = MlflowSettings().tracking_uri
    try:
        MlflowClient(tracking_uri=uri, registry_uri=uri).delete_registered_model(name)
    except Exception:  # noqa: BLE001 - never registered
        pass


# --- the twin-trainer service as a process ------------------------------------------------------------


@dataclass
class TrainerService:
    """`python -m twin_trainer` on its own topics and consumer group (TWIN_INDEXED_TOPIC, TWIN_DRIFT_TOPIC)."""

    env: dict[str, str]
    url: str
    log_path: Path
    process: subprocess.Popen

    @classmethod
    def start(cls, suffix: str, log_dir: Path, **env: str) -> TrainerService:
        port = free_port()
        full_env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "TWIN_HTTP_PORT": str(port),
            "TWIN_INDEXED_TOPIC": f"test-trainer-svc-indexed-{suffix}",
            "TWIN_DRIFT_TOPIC": f"test-trainer-svc-drift-{suffix}",
            "TWIN_GROUP_ID": f"test-trainer-svc-{suffix}",
            "TWIN_LOG_JSON": "false",
            "TWIN_OTEL_SPANS_FILE": str(log_dir / "spans.jsonl"),
            **env,
        }
        log_path = log_dir / f"trainer-{port}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "twin_trainer"], env=full_env, stdout=log, stderr=subprocess.STDOUT
            )
        return cls(full_env, f"http://127.0.0.1:{port}", log_path, process)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        import httpx

        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"twin-trainer exited with {self.process.returncode}:\n{self.tail()}")
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200

        wait_for(ready, timeout_s, "twin-trainer readiness", tolerate=(httpx.HTTPError,))

    def publish_indexed(self, tenant: str, document_ids: list[str]) -> None:
        publish_indexed(self.env["TWIN_INDEXED_TOPIC"], tenant, document_ids)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        delete_topics(self.env["TWIN_INDEXED_TOPIC"], self.env["TWIN_DRIFT_TOPIC"])


def publish_indexed(topic: str, tenant: str, document_ids: list[str]) -> None:
    """DocumentIndexed events as the embedder publishes them (no author id: the trainer looks it up)."""
    from kafka import KafkaProducer
    from twin_common.events import ChangeOp, DocumentIndexed
    from twin_common.settings import KafkaSettings

    producer = KafkaProducer(bootstrap_servers=KafkaSettings().bootstrap_servers, acks="all")
    try:
        for document_id in document_ids:
            event = DocumentIndexed(
                tenant_id=tenant,
                document_id=document_id,
                content_hash="sha256:x",
                op=ChangeOp.UPDATE,
                chunk_count=1,
                embedding_model="all-MiniLM-L6-v2",
            )
            producer.send(topic, key=document_id.encode(), value=event.to_bytes()).get(timeout=30)
    finally:
        producer.close()


def document_ids(tenant: str, limit: int | None = None) -> list[str]:
    import psycopg

    with psycopg.connect(PostgresSettings().dsn()) as conn:
        rows = conn.execute(
            "SELECT id::text FROM documents WHERE tenant_id = %s ORDER BY external_id LIMIT %s", (tenant, limit)
        )
        return [r[0] for r in rows]
