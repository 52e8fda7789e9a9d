"""SIGKILL of the worker in the middle of 2,000 document changes, then a restart, ends in exactly the state the
final rows define: no lost, duplicate or stale chunks (point ids per document compared with the chunker's), and
Feast's online document and author features agree with them (changes are committed 20 to a transaction; the
ordering of two changes of one commit that land in different pushes is pinned in test_embedder_feast_features)."""

from __future__ import annotations

import random
import threading
import uuid

import psycopg
from embedder_support import FeastView, Worker, group_caught_up, seed_author, start_connector, wait_for
from twin_common.documents import DocumentRow

TENANT = "crash"
N_DOCS, N_UPDATES, N_DELETES = 700, 900, 400  # 2,000 changes


def _content(rng: random.Random, n: int) -> str:
    # small documents; one in twenty has 60 sentences (two article chunks), so updates grow and shrink some
    return " ".join(
        f"Sentence {i} mentions {rng.choice(['bees', 'wasps', 'ants', 'hives'])} and {n}."
        for i in range(rng.choice([1] * 10 + [4] * 9 + [60]))
    )


def _write_changes(dsn: str, author: str, ids: list[str], done: threading.Event, errors: list) -> None:
    rng = random.Random(7)
    try:
        ops = [("c", doc_id) for doc_id in ids]
        live = list(ids)
        for _ in range(N_UPDATES):
            ops.append(("u", rng.choice(ids)))
        victims = rng.sample(ids, N_DELETES)
        ops += [("d", doc_id) for doc_id in victims]
        with psycopg.connect(dsn) as conn:
            for start in range(0, len(ops), 20):
                with conn.transaction():
                    for n, (op, doc_id) in enumerate(ops[start : start + 20], start):
                        if op == "c":
                            conn.execute(
                                "INSERT INTO documents (id, tenant_id, author_id, kind, external_id, title,"
                                " content, content_hash) VALUES (%s, %s, %s, 'article', %s, 'T', %s, %s)",
                                (doc_id, TENANT, author, f"e{doc_id}", _content(rng, n), f"h{n}"),
                            )
                        elif op == "u":
                            conn.execute(
                                "UPDATE documents SET content = %s, content_hash = %s WHERE id = %s",
                                (_content(rng, n), f"h{n}", doc_id),
                            )
                        else:
                            conn.execute("DELETE FROM documents WHERE id = %s", (doc_id,))
        assert len(live) == N_DOCS
    except Exception as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)
    finally:
        done.set()


def _final_rows(dsn: str) -> dict[str, DocumentRow]:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute("SELECT * FROM documents WHERE tenant_id = %s", (TENANT,))
        names = [d.name for d in cur.description]
        rows = {}
        for values in cur.fetchall():
            record = {k: (str(v) if k in ("id", "author_id") else v) for k, v in zip(names, values, strict=True)}
            rows[record["id"]] = DocumentRow.model_validate(record)
        return rows


def test_sigkill_mid_stream_then_restart_converges(rig, chunker, tmp_path):
    start_connector(rig)
    with psycopg.connect(rig.dsn, autocommit=True) as conn:
        author = seed_author(conn, TENANT)
    ids = [str(uuid.uuid4()) for _ in range(N_DOCS)]

    feast_env = {"TWIN_FEAST_PROJECT": f"twintest{rig.suffix}", "TWIN_FEAST_DATA_DIR": str(tmp_path / "feast")}
    worker = Worker(rig, tmp_path, **feast_env)
    worker.wait_ready()
    done, errors = threading.Event(), []
    writer = threading.Thread(target=_write_changes, args=(rig.dsn, author, ids, done, errors))
    writer.start()
    try:
        wait_for(lambda: worker.get("/v1/stats")["messages"] >= 300, timeout=120, what="worker under way")
        seen_before_kill = worker.get("/v1/stats")["messages"]
        worker.kill()
    finally:
        writer.join(timeout=120)
    assert not errors, errors
    assert seen_before_kill < N_DOCS + N_UPDATES + 2 * N_DELETES  # killed in the middle (tombstones count too)
    assert not group_caught_up(rig)

    worker = Worker(rig, tmp_path, **feast_env)
    feast = None
    try:
        worker.wait_ready()
        wait_for(lambda: group_caught_up(rig), timeout=180, interval=1.0, what="restarted worker caught up")
        rows = _final_rows(rig.dsn)
        assert len(rows) == N_DOCS - N_DELETES
        final_chunks = {doc_id: chunker.chunk(rows[doc_id]) if doc_id in rows else [] for doc_id in ids}
        total = 0
        for doc_id in ids:
            expected = {c.chunk_id for c in final_chunks[doc_id]}
            stored = worker.points(TENANT, doc_id)
            assert {p["id"] for p in stored} == expected, f"document {doc_id}"
            assert all(p["content_hash"] == rows[doc_id].content_hash for p in stored)
            total += len(expected)
        assert worker.get(f"/v1/tenants/{TENANT}/points")["count"] == total
        assert total > len(rows)  # some documents hold two chunks, so growing/shrinking was exercised

        feast = FeastView(feast_env["TWIN_FEAST_PROJECT"], tmp_path / "feast")
        online = feast.documents(ids)
        live_tokens = 0
        for doc_id in ids:
            if doc_id in rows:
                chunks = final_chunks[doc_id]
                tokens = sum(c.token_count for c in chunks)
                live_tokens += tokens
                assert online[doc_id] == {"chunk_count": len(chunks), "token_count": tokens, "deleted": False}, doc_id
            else:
                assert online[doc_id] == {"chunk_count": 0, "token_count": 0, "deleted": True}, doc_id
        assert feast.author(author) == {"document_count": len(rows), "token_count": live_tokens}
    finally:
        worker.stop()
        if feast is not None:
            feast.close()
