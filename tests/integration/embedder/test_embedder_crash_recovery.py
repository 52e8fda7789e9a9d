"""SIGKILL of the worker in the middle of 2,000 document changes, then a restart, ends in exactly the state the
final rows define: no lost, duplicate or stale chunks (point ids per document compared with the chunker's), and
Feast's online document and author features agree with them (changes are committed 20 to a transaction; the
ordering of two changes of one commit that land in different pushes is pinned in test_embedder_feast_features)."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from embedder_support import (
    FeastView,
    Worker,
    events_of,
    feast_convergence,
    final_rows,
    group_caught_up,
    plan_changes,
    seed_author,
    start_connector,
    store_convergence,
    wait_for,
    write_changes,
)

# stack restarts, model loading and a worker start on a loaded 2-core machine: more than pytest's default 600 s
CHAOS_TIMEOUT_S = 1800
TENANT = "crash"
N_DOCS, N_UPDATES, N_DELETES = 700, 900, 400  # 2,000 changes


@pytest.mark.timeout(CHAOS_TIMEOUT_S)
def test_sigkill_mid_stream_then_restart_converges(rig, chunker, tmp_path):
    start_connector(rig)
    with psycopg.connect(rig.dsn, autocommit=True) as conn:
        author = seed_author(conn, TENANT)
    ids = [str(uuid.uuid4()) for _ in range(N_DOCS)]
    ops = plan_changes(ids, N_UPDATES, N_DELETES)

    feast_env = {"TWIN_FEAST_PROJECT": f"twintest{rig.suffix}", "TWIN_FEAST_DATA_DIR": str(tmp_path / "feast")}
    worker = Worker(rig, tmp_path, **feast_env)
    worker.wait_ready()
    errors = []

    def write() -> None:
        try:
            write_changes(rig.dsn, TENANT, author, ops)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        wait_for(lambda: worker.get("/v1/stats")["messages"] >= 300, timeout=240, what="worker under way")
        seen_before_kill = worker.get("/v1/stats")["messages"]
        worker.kill()
    finally:
        writer.join(timeout=120)
    assert not errors, errors
    assert seen_before_kill < events_of(ops)  # killed in the middle (tombstones count too)
    assert not group_caught_up(rig)

    worker = Worker(rig, tmp_path, **feast_env)
    feast = None
    try:
        worker.wait_ready()
        wait_for(lambda: group_caught_up(rig), timeout=180, interval=1.0, what="restarted worker caught up")
        rows = final_rows(rig.dsn, TENANT)
        assert len(rows) == N_DOCS - N_DELETES
        in_store = store_convergence(worker, chunker, rows, ids, TENANT)
        assert (in_store.lost, in_store.stale, in_store.duplicates) == ([], [], 0)
        total = sum(len(chunker.chunk(row)) for row in rows.values())
        assert worker.get(f"/v1/tenants/{TENANT}/points")["count"] == total
        assert total > len(rows)  # some documents hold two chunks, so growing/shrinking was exercised

        feast = FeastView(feast_env["TWIN_FEAST_PROJECT"], tmp_path / "feast")
        in_feast = feast_convergence(feast, chunker, rows, ids, author)
        assert (in_feast.lost, in_feast.stale) == ([], [])
    finally:
        worker.stop()
        if feast is not None:
            feast.close()
