"""Create, update (longer, then shorter) and delete of documents leave the store exactly as expected, chunk by
chunk, and Feast's online document and author features with them; each applied change is announced as
DocumentIndexed."""

from __future__ import annotations

import json
import re
import uuid

import psycopg
from embedder_support import FeastView, Worker, read_topic, seed_author, start_connector, wait_for
from twin_common.documents import DocumentRow
from twin_common.events import DocumentIndexed


def _paragraphs(n: int, word: str) -> str:
    return "\n\n".join(
        f"Paragraph {i} about {word}. " + " ".join(f"{word}{j} sentence number {j}." for j in range(40))
        for i in range(n)
    )


def _row(conn, doc_id: str) -> DocumentRow:
    cur = conn.execute("SELECT * FROM documents WHERE id = %s", (doc_id,))
    names = [d.name for d in cur.description]
    values = dict(zip(names, cur.fetchone(), strict=True))
    values = {k: (str(v) if k in ("id", "author_id") else v) for k, v in values.items()}
    return DocumentRow.model_validate(values)


def _matches(worker: Worker, chunker, row: DocumentRow) -> bool:
    expected = {c.chunk_id: c for c in chunker.chunk(row)}
    stored = worker.points(row.tenant_id, row.id)
    return {p["id"] for p in stored} == set(expected) and all(
        p["content_hash"] == row.content_hash and p["text"] == expected[p["id"]].text for p in stored
    )


def test_create_update_longer_shorter_and_delete(rig, chunker, tmp_path):
    start_connector(rig)
    project = f"twintest{rig.suffix}"
    worker = Worker(rig, tmp_path, TWIN_FEAST_PROJECT=project, TWIN_FEAST_DATA_DIR=str(tmp_path / "feast"))
    feast = None
    try:
        worker.wait_ready()
        feast = FeastView(project, tmp_path / "feast")
        with psycopg.connect(rig.dsn, autocommit=True) as conn:
            author = seed_author(conn, "acme")
            other_author = seed_author(conn, "globex")
            doc_id, other_id = str(uuid.uuid4()), str(uuid.uuid4())
            for did, tenant, auth in [(doc_id, "acme", author), (other_id, "globex", other_author)]:
                conn.execute(
                    "INSERT INTO documents (id, tenant_id, author_id, kind, external_id, title, content,"
                    " content_hash) VALUES (%s, %s, %s, 'article', 'a.md', 'Bees', %s, 'h1')",
                    (did, tenant, auth, _paragraphs(3, "bee")),
                )
            created = _row(conn, doc_id)
            n_created = len(chunker.chunk(created))
            assert n_created >= 2
            wait_for(lambda: _matches(worker, chunker, created), what="create applied")
            wait_for(lambda: feast.holds(chunker, created), what="create in Feast")
            wait_for(lambda: feast.author_documents(author) == 1, what="author features after create")
            assert wait_for(lambda: worker.points("globex", other_id), what="other tenant applied")

            conn.execute(
                "UPDATE documents SET content = %s, content_hash = 'h2' WHERE id = %s", (_paragraphs(8, "wasp"), doc_id)
            )
            longer = _row(conn, doc_id)
            assert len(chunker.chunk(longer)) > n_created
            wait_for(lambda: _matches(worker, chunker, longer), what="longer update applied")
            wait_for(lambda: feast.holds(chunker, longer), what="longer update in Feast")

            conn.execute(
                "UPDATE documents SET content = 'A single short line about ants.', content_hash = 'h3' WHERE id = %s",
                (doc_id,),
            )
            shorter = _row(conn, doc_id)
            assert len(chunker.chunk(shorter)) == 1
            wait_for(lambda: _matches(worker, chunker, shorter), what="shorter update applied (no stale chunks)")
            wait_for(lambda: feast.holds(chunker, shorter), what="shorter update in Feast")
            assert feast.author_documents(author) == 1  # an update is not a new document

            conn.execute("DELETE FROM documents WHERE id = %s", (doc_id,))
            wait_for(lambda: worker.points("acme", doc_id) == [], what="delete applied")
            wait_for(lambda: feast.document(doc_id)["deleted"] is True, what="delete in Feast")
            assert feast.document(doc_id)["chunk_count"] == 0
            wait_for(lambda: feast.author_documents(author) == 0, what="author features after delete")
            assert worker.get("/v1/tenants/acme/points")["count"] == 0
            # the other tenant's document is untouched by all of this
            assert _matches(worker, chunker, _row(conn, other_id))
            assert feast.holds(chunker, _row(conn, other_id)) and feast.author_documents(other_author) == 1

        announced = wait_for(
            lambda: (
                [
                    DocumentIndexed.from_bytes(r.value)
                    for r in read_topic(rig.indexed_topic)
                    if json.loads(r.value)["document_id"] == doc_id and json.loads(r.value)["op"] == "d"
                ]
                and [
                    DocumentIndexed.from_bytes(r.value)
                    for r in read_topic(rig.indexed_topic)
                    if json.loads(r.value)["document_id"] == doc_id
                ]
            ),
            what="DocumentIndexed events",
        )
        by_hash = {e.content_hash: e.chunk_count for e in announced if e.op != "d"}
        assert by_hash == {"h1": n_created, "h2": len(chunker.chunk(longer)), "h3": 1}
        assert announced[-1].op == "d" and announced[-1].chunk_count == 0

        lag_line = re.compile(r'^twin_embedder_consumer_lag\{partition="\d+",topic="[^"]+"\} 0\.0$', re.M)
        wait_for(lambda: lag_line.search(worker.http.get("/metrics").text), what="lag gauge at 0")
        assert re.search(
            r'^twin_embedder_changes_total\{op="d",skipped="false"\} 1\.0$', worker.http.get("/metrics").text, re.M
        )
    finally:
        worker.stop()
        if feast is not None:
            feast.close()
    spans = {json.loads(line)["name"] for line in worker.spans_path.read_text().splitlines()}
    assert {f"process {rig.documents_topic}", "embedder.parse", "embedder.apply", "embedder.commit"} <= spans
    assert {f"send {rig.indexed_topic}", "upsert twin_chunks", "feast.push"} <= spans
