"""A dependency down or frozen in the middle of 1,000 document changes is waited out: nothing is dead-lettered,
the worker says it is not ready (and which dependency it waits for) while it lasts, and afterwards every change
is in Qdrant and Feast. Outages of OUTAGE_S seconds, long past what the old retries of a message lasted before
they dead-lettered it (3 attempts, under a second of backoff, plus ~8 s of redis-py's own retries per call).

- Redis (Feast's online store and the author ledger): SIGKILL, then later SIGSTOP, each for OUTAGE_S.
- The inference service in remote-embedder mode: SIGKILL (a new process on the same ports after OUTAGE_S), then
  SIGSTOP for OUTAGE_S.
Each prints lost / stale / duplicate counts; lost and stale must be 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import httpx
import psycopg
import pytest
from embedder_support import (
    FeastView,
    Worker,
    events_of,
    feast_convergence,
    final_rows,
    free_port,
    group_caught_up,
    plan_changes,
    read_topic,
    seed_author,
    start_connector,
    store_convergence,
    wait_for,
    write_changes,
)

# stack restarts, model loading and a worker start on a loaded 2-core machine: more than pytest's default 600 s
CHAOS_TIMEOUT_S = 1800
OUTAGE_S = 60
N_DOCS, N_UPDATES, N_DELETES = 500, 380, 120  # 1,000 changes, in three phases around two outages
TENANT = "outage"

# the worker notices a dead or frozen dependency within seconds, retries at least every 5 s, and hands a held
# batch back to Kafka every 20 s (so an outage of OUTAGE_S also goes through the seek-back path)
FAST_DETECTION = {"TWIN_DEPENDENCY_TIMEOUT_S": "2", "TWIN_BACKOFF_MAX_S": "5", "TWIN_HOLD_BATCH_S": "20"}


def _phases(ops: list) -> list[list]:
    third = len(ops) // 3
    return [ops[:third], ops[third : 2 * third], ops[2 * third :]]


def _applied(worker: Worker, events: int) -> bool:
    return worker.get("/v1/stats")["messages"] >= events


def _ride_out(worker: Worker, dependency: str, started: float) -> dict:
    """While the outage lasts: the worker reports it, dead-letters nothing; returns what it reported, with
    `noticed_s`, the time from the outage's start to the report."""
    waiting = wait_for(
        lambda: (w := worker.get("/v1/stats")["waiting_for"]) and w["dependency"] == dependency and w,
        timeout=OUTAGE_S - 10,
        what=f"the worker to report it waits for {dependency}",
    )
    waiting["noticed_s"] = time.monotonic() - started - waiting["seconds"]
    readiness = worker.http.get("/readyz")
    assert readiness.status_code == 503 and readiness.json()["checks"]["dependencies"] is False
    assert "twin_embedder_paused 1.0" in worker.http.get("/metrics").text
    while time.monotonic() - started < OUTAGE_S:
        assert worker.get("/v1/stats")["dead_letters"] == 0
        time.sleep(1)
    return waiting


@pytest.mark.timeout(CHAOS_TIMEOUT_S)
def test_redis_killed_then_frozen_mid_stream_loses_nothing(rig, chunker, tmp_path, local_stack):
    start_connector(rig)
    with psycopg.connect(rig.dsn, autocommit=True) as conn:
        author = seed_author(conn, TENANT)
    ids = [str(uuid.uuid4()) for _ in range(N_DOCS)]
    ops = plan_changes(ids, N_UPDATES, N_DELETES)
    first, second, third = _phases(ops)
    project = f"twintest{rig.suffix}"
    feast_env = {"TWIN_FEAST_PROJECT": project, "TWIN_FEAST_DATA_DIR": str(tmp_path / "feast")}
    worker = Worker(rig, tmp_path, **feast_env, **FAST_DETECTION)
    redis = local_stack.component("redis")
    feast = None
    try:
        worker.wait_ready()
        write_changes(rig.dsn, TENANT, author, first)
        wait_for(lambda: _applied(worker, events_of(first)), timeout=180, what="first third applied")

        killed_at = time.monotonic()
        local_stack.kill("redis")
        try:
            write_changes(rig.dsn, TENANT, author, second, first=len(first))
            killed = _ride_out(worker, "redis", killed_at)
        finally:
            redis.start()
        wait_for(lambda: _applied(worker, events_of(first + second)), timeout=180, what="second third applied")

        pid = redis.pid()
        frozen_at = time.monotonic()
        os.kill(pid, signal.SIGSTOP)
        try:
            write_changes(rig.dsn, TENANT, author, third, first=len(first) + len(second))
            frozen = _ride_out(worker, "redis", frozen_at)
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_for(lambda: _applied(worker, events_of(ops)) and group_caught_up(rig), timeout=240, what="caught up")
        assert worker.http.get("/readyz").status_code == 200

        rows = final_rows(rig.dsn, TENANT)
        assert len(rows) == N_DOCS - N_DELETES
        feast = FeastView(project, tmp_path / "feast")
        in_store = store_convergence(worker, chunker, rows, ids, TENANT)
        in_feast = feast_convergence(feast, chunker, rows, ids, author)
        letters = read_topic(rig.dlq_topic)
        stats = worker.get("/v1/stats")
        print(
            f"\n[redis] {len(ops)} changes; kill {OUTAGE_S} s, noticed after {killed['noticed_s']:.1f} s "
            f"({killed['error'][:70]}); freeze {OUTAGE_S} s, noticed after {frozen['noticed_s']:.1f} s "
            f"({frozen['error'][:70]})\n"
            f"  Qdrant: {in_store.line()}\n  Feast:  {in_feast.line()}\n"
            f"  dead letters: {len(letters)}; messages handled {stats['messages']} of {events_of(ops)} on the topic"
        )
        assert not letters and stats["dead_letters"] == 0
        assert (in_store.lost, in_store.stale, in_store.duplicates) == ([], [], 0)
        assert (in_feast.lost, in_feast.stale) == ([], [])
    finally:
        if redis.running():
            os.kill(redis.pid(), signal.SIGCONT)
        redis.start()
        worker.stop()
        if feast is not None:
            feast.close()


class EmbedServer:
    """`python -m twin_inference` serving twin-embed only (quick to start), restartable on the same ports."""

    def __init__(self, log_dir):
        self.http_port, self.grpc_port = free_port(), free_port()
        self.log_dir = log_dir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TWIN_HTTP_PORT": str(self.http_port),
            "TWIN_GRPC_PORT": str(self.grpc_port),
            "TWIN_SERVE_LLM": "false",
            "TWIN_SERVE_RERANK": "false",
            "TWIN_WATCH_KAFKA": "false",
            "TWIN_EMBED_REGISTERED_NAME": f"test-outage-embed-{uuid.uuid4().hex[:8]}",  # nothing registered
            "TWIN_LOG_JSON": "false",
            "TWIN_OTEL_ENABLED": "false",
        }
        with open(self.log_dir / f"inference-{time.time():.0f}.log", "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "twin_inference"], env=env, stdout=log, stderr=subprocess.STDOUT
            )

        def ready() -> bool:
            assert self.process.poll() is None, "inference server exited"
            try:
                return httpx.get(f"http://{self.url}/v2/health/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout=420, interval=0.5, what="inference server ready")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(20)


@pytest.mark.timeout(CHAOS_TIMEOUT_S)
@pytest.mark.parametrize("protocol", ["http"])
def test_inference_service_killed_then_frozen_mid_stream_loses_nothing(rig, chunker, tmp_path, local_stack, protocol):
    start_connector(rig)
    with psycopg.connect(rig.dsn, autocommit=True) as conn:
        author = seed_author(conn, TENANT)
    ids = [str(uuid.uuid4()) for _ in range(N_DOCS)]
    ops = plan_changes(ids, N_UPDATES, N_DELETES, seed=11)
    first, second, third = _phases(ops)
    server = EmbedServer(tmp_path)
    server.start()
    remote = {
        "TWIN_EMBEDDER": "remote",
        "TWIN_INFERENCE_URL": server.url,
        "TWIN_INFERENCE_PROTOCOL": protocol,
        "TWIN_INFERENCE_TIMEOUT_S": "20",
        "TWIN_INFERENCE_ROWS_PER_CALL": "16",
    }
    worker = Worker(rig, tmp_path, **remote, **FAST_DETECTION)
    try:
        worker.wait_ready()
        write_changes(rig.dsn, TENANT, author, first)
        wait_for(lambda: _applied(worker, events_of(first)), timeout=240, what="first third applied")

        killed_at = time.monotonic()
        server.kill()
        try:
            write_changes(rig.dsn, TENANT, author, second, first=len(first))
            killed = _ride_out(worker, "inference", killed_at)
        finally:
            server.start()  # a new process on the same ports
        wait_for(lambda: _applied(worker, events_of(first + second)), timeout=240, what="second third applied")

        frozen_at = time.monotonic()
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            write_changes(rig.dsn, TENANT, author, third, first=len(first) + len(second))
            frozen = _ride_out(worker, "inference", frozen_at)
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        wait_for(lambda: _applied(worker, events_of(ops)) and group_caught_up(rig), timeout=300, what="caught up")
        assert worker.http.get("/readyz").status_code == 200

        rows = final_rows(rig.dsn, TENANT)
        in_store = store_convergence(worker, chunker, rows, ids, TENANT)
        letters = read_topic(rig.dlq_topic)
        print(
            f"\n[inference/{protocol}] {len(ops)} changes; kill {OUTAGE_S} s, noticed after "
            f"{killed['noticed_s']:.1f} s ({killed['error'][:70]}); freeze {OUTAGE_S} s, noticed after "
            f"{frozen['noticed_s']:.1f} s ({frozen['error'][:70]})\n"
            f"  Qdrant: {in_store.line()}\n  dead letters: {len(letters)}"
        )
        assert not letters and worker.get("/v1/stats")["dead_letters"] == 0
        assert (in_store.lost, in_store.stale, in_store.duplicates) == ([], [], 0)
    finally:
        worker.stop()
        server.stop()
