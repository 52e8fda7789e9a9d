"""The CDC walkthrough (`make demo-cdc`; `make demo` before the gateway existed): the sample corpus travels the
data path and comes back as cited search hits, with no service but the servers.

1. `twin ingest` stores samples/corpus (articles, posts, notes, a code repository) in PostgreSQL;
2. the Debezium connector (twin_cdc) streams every row change to Kafka (twin.cdc.public.documents);
3. the change events are read from Kafka and applied to an embedded Qdrant store with twin_search's indexer
   (clean -> chunk -> MiniLM embed -> BM25 -> upsert);
4. an edit and a delete in PostgreSQL travel the same way;
5. hybrid search (dense + BM25, RRF) answers questions for the demo tenant with citations.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from kafka import KafkaConsumer
from twin_cdc import connector as cdc
from twin_cdc.settings import CdcSettings
from twin_common.documents import DocumentRow
from twin_common.events import ChangeOp, DebeziumEnvelope
from twin_common.settings import KafkaSettings, PostgresSettings
from twin_common.topics import CDC_DOCUMENTS
from twin_ingest import cli as ingest_cli
from twin_search.embedding import LocalEmbedder
from twin_search.indexer import DocumentIndexer
from twin_search.retriever import HybridRetriever
from twin_search.vectorstore.base import SearchFilter
from twin_search.vectorstore.edge import EdgeVectorStore

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "samples" / "corpus"
TENANT, AUTHOR = "demo", "alex"
QUESTIONS = [
    "How do I keep a consumer idempotent?",
    "what should I check before winter in the hive?",
    "which function computes the sliding window in the code?",
]


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def as_git_repository(folder: Path, into: Path) -> Path:
    """A git repository holding a copy of `folder` (the git importer reads committed files at HEAD), with the same
    commit id on every run (fixed dates): the commit is in each document's metadata, so a re-run changes nothing."""
    shutil.copytree(folder, into)
    git = ["git", "-C", str(into), "-c", "user.name=demo", "-c", "user.email=demo@localhost"]
    fixed = {**os.environ, "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "sample repository"], check=True, env=fixed)
    return into


def ingest() -> None:
    with tempfile.TemporaryDirectory(prefix="twin-demo-repo-") as tmp:
        repo = as_git_repository(CORPUS / "repo", Path(tmp) / "kettle")
        for source, kind in [
            (CORPUS / "articles", "article"),
            (CORPUS / "posts.jsonl", "post"),
            (CORPUS / "notes", "note"),
            (repo, "repository"),
        ]:
            ingest_cli.main([str(source), "--tenant", TENANT, "--author", AUTHOR, "--kind", kind])


def apply_changes(consumer: KafkaConsumer, indexer: DocumentIndexer, expect_quiet_s: float = 3.0) -> int:
    """Apply CDC events until the topic has been quiet for a while; returns how many changes were applied."""
    applied, quiet_since = 0, time.monotonic()
    while time.monotonic() - quiet_since < expect_quiet_s:
        batch = consumer.poll(timeout_ms=500)
        for messages in batch.values():
            for message in messages:
                envelope = DebeziumEnvelope.parse(message.value)
                if envelope is None or envelope.row is None or envelope.row.get("tenant_id") != TENANT:
                    continue
                row = DocumentRow.model_validate(envelope.row)
                if envelope.op is ChangeOp.DELETE:
                    indexer.remove(row.tenant_id, row.id)
                else:
                    indexer.index(row)
                applied += 1
                quiet_since = time.monotonic()
        consumer.commit()
    return applied


def search(retriever: HybridRetriever, question: str) -> None:
    result = retriever.search(question, SearchFilter(TENANT), top_k=3)
    print(f"\nQ: {question}   ({sum(result.timings_ms.values()):.0f} ms)")
    for rank, hit in enumerate(result.hits, 1):
        p = hit.payload
        print(
            f"  [{rank}] {p['title'] or '(untitled ' + p['kind'] + ')'} ({p['kind']}, chunk {p['position']}): "
            f"{p['text'][:110].replace(chr(10), ' ')}..."
        )


def main() -> int:
    step("1. ingest the sample corpus into PostgreSQL")
    ingest()

    step("2. register the Debezium connector (idempotent) and wait for it")
    settings = CdcSettings()
    result = cdc.register(settings.connect.url, settings.connector_name, settings.connector_config())
    print(f"connector {settings.connector_name}: {result}")
    cdc.wait_running(settings.connect.url, settings.connector_name)

    step("3. read the change stream from Kafka and index it (embedded Qdrant)")
    embedder = LocalEmbedder()
    with tempfile.TemporaryDirectory(prefix="twin-demo-") as tmp:
        indexer = DocumentIndexer(EdgeVectorStore(Path(tmp) / "store"), embedder)
        consumer = KafkaConsumer(
            CDC_DOCUMENTS,
            bootstrap_servers=KafkaSettings().bootstrap_servers,
            group_id=f"demo-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        applied = apply_changes(consumer, indexer, expect_quiet_s=8.0)
        print(f"applied {applied} changes; {indexer.store.count(SearchFilter(TENANT))} chunks searchable")

        retriever = HybridRetriever(indexer.store, embedder, indexer.bm25)
        step("4. ask")
        for question in QUESTIONS:
            search(retriever, question)

        step("5. an edit and a delete in PostgreSQL travel the same path")
        with psycopg.connect(PostgresSettings().dsn(), autocommit=True) as conn:
            doc_id, title = conn.execute(
                "SELECT id, title FROM documents WHERE tenant_id = %s AND kind = 'note' ORDER BY external_id LIMIT 1",
                (TENANT,),
            ).fetchone()
            conn.execute(
                "UPDATE documents SET content = content || %s, content_hash = md5(random()::text), "
                "updated_at = now() WHERE id = %s",
                ("\n\nAddendum: the demo appended this sentence about quokkas.", doc_id),
            )
            victim = conn.execute(
                "SELECT id, title FROM documents WHERE tenant_id = %s AND kind = 'post' ORDER BY external_id LIMIT 1",
                (TENANT,),
            ).fetchone()
            conn.execute("DELETE FROM documents WHERE id = %s", (victim[0],))
        applied = apply_changes(consumer, indexer)
        print(f"applied {applied} changes (update of '{title}', delete of '{victim[1]}')")
        search(retriever, "quokkas addendum")
        left = indexer.store.document_point_ids(TENANT, str(victim[0]))
        print(f"chunks left for the deleted post: {len(left)}")
        consumer.close()
        indexer.store.close()
    print("\ndemo done: re-running it is safe (ingest is idempotent; unchanged documents emit no change)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
