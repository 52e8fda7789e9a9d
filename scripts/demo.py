"""The demo behind `make demo`: the product, through the gateway, on the platform `make up` started.

1. `twin keys create` makes an API key for the demo tenant (the clear key is shown once);
2. the sample corpus (articles, posts, notes, a code repository) is ingested through the gateway's REST API;
3. the demo waits until every document is searchable: the embedder (inside `twin node`) announces each one on
   twin.documents.indexed once it is in the vector store;
4. a question over REST, the answer streamed token by token (Server-Sent Events), with its numbered citations;
5. the same through the official `openai` SDK pointed at the gateway (streamed; citations in an extra field);
6. a document is edited and then deleted through the gateway, and the answer to one question is shown before,
   after the edit (it cites the new sentence) and after the delete (it no longer cites the document);
7. the key is revoked, and the gateway refuses it.

The CDC walkthrough underneath (ingest, Debezium, Kafka, the embedder, without the gateway) is `make demo-cdc`
(scripts/demo_cdc.py), also reached with `demo.py --cdc`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from twin_common.settings import LOCAL_GATEWAY_PORT, KafkaSettings
from twin_common.topics import DOCUMENTS_INDEXED

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "samples" / "corpus"
GATEWAY = os.environ.get("TWIN_DEMO_GATEWAY_URL", f"http://127.0.0.1:{LOCAL_GATEWAY_PORT}")
TENANT, AUTHOR = "maren", "Maren Holt"  # the CDC walkthrough (demo_cdc.py) uses tenant "demo"
QUESTION = "What should I check before winter in the hive?"
EDITED_NOTE = "queen-marking.txt"
ADDENDUM = "\n\nThis spring I marked the queen of hive two with a blue dot and named her Beatrix."
FOLLOW_UP = "What did I name the queen of hive two?"
MAX_TOKENS = 48  # a short answer: SmolLM2 on a CPU writes 15-20 tokens a second
TOP_K = 3  # context passages: a shorter prompt is a faster first token on a CPU
INDEX_TIMEOUT_S = float(os.environ.get("TWIN_DEMO_INDEX_TIMEOUT_S", "300"))


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def twin(*args: str) -> str:
    """Run a `twin` subcommand as a user would, echoing it; returns its standard output."""
    print(f"$ twin {' '.join(args)}", flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "twin_cli.main", *args], capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode != 0:
        raise SystemExit(f"twin {args[0]} failed: {result.stderr.strip()}")
    return result.stdout


# --- the corpus, read with the ingest service's own importers, as the gateway's Ingest documents ------------


def corpus_documents() -> list[dict]:
    from demo_cdc import as_git_repository  # scripts/ is on sys.path: this file runs as a script
    from twin_ingest.importers.files import import_folder
    from twin_ingest.importers.git_repo import import_repository
    from twin_ingest.importers.jsonl import import_jsonl
    from twin_ingest.model import SourceDocument

    with tempfile.TemporaryDirectory(prefix="twin-demo-repo-") as tmp:
        repo = as_git_repository(CORPUS / "repo", Path(tmp) / "kettle")
        found = [
            *import_folder(CORPUS / "articles"),
            *import_jsonl(CORPUS / "posts.jsonl"),
            *import_folder(CORPUS / "notes"),
            *import_repository(repo),
        ]
    documents = []
    for item in found:
        if not isinstance(item, SourceDocument):
            print(f"  skipped {item.external_id}: {item.reason} {item.detail}")
            continue
        documents.append(
            {
                "external_id": item.external_id,
                "kind": str(item.kind.value if hasattr(item.kind, "value") else item.kind),
                "title": item.title,
                "url": item.url or "",
                "content": item.content,
                "language": item.language or "",
                "tags": list(item.tags),
                "metadata": {str(k): str(v) for k, v in item.metadata.items()},
            }
        )
    return documents


# --- the gateway's REST API ------------------------------------------------------------------------------


class Gateway:
    def __init__(self, key: str):
        self.http = httpx.Client(base_url=GATEWAY, headers={"Authorization": f"Bearer {key}"}, timeout=300)

    def ingest(self, documents: list[dict]) -> dict:
        response = self.http.post("/v1/documents", json={"author": AUTHOR, "documents": documents})
        response.raise_for_status()
        return response.json()

    def documents(self) -> list[dict]:
        response = self.http.get("/v1/documents", params={"limit": 1000})
        response.raise_for_status()
        return response.json()["documents"]

    def search(self, query: str) -> list[dict]:
        response = self.http.post("/v1/search", json={"query": query, "top_k": TOP_K})
        response.raise_for_status()
        return response.json()["hits"]

    def delete(self, document_id: str) -> None:
        self.http.delete(f"/v1/documents/{document_id}").raise_for_status()

    @staticmethod
    def _ask_body(question: str) -> dict:
        return {"question": question, "top_k": TOP_K, "generation": {"max_tokens": MAX_TOKENS}, "bypass_cache": True}

    def ask(self, question: str) -> dict:
        response = self.http.post("/v1/ask", json=self._ask_body(question))
        response.raise_for_status()
        return response.json()

    def ask_stream(self, question: str) -> Iterator[dict]:
        with self.http.stream("POST", "/v1/ask/stream", json=self._ask_body(question)) as response:
            response.raise_for_status()
            event = None
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    data = json.loads(line.split(":", 1)[1])
                    if event == "error":
                        raise SystemExit(f"the gateway reported an error mid-stream: {data}")
                    yield data
                    event = None


def show_citations(citations: list[dict]) -> None:
    for c in citations:
        snippet = " ".join(c.get("snippet", "").split())[:100]
        print(f"  [{c['number']}] {c['title'] or '(untitled)'}: {snippet}...")
    if not citations:
        print("  (no citations)")


# --- freshness: the embedder's twin.documents.indexed events ---------------------------------------------


class IndexedEvents:
    """Reads twin.documents.indexed from the beginning: which (document, content hash) the store holds."""

    def __init__(self) -> None:
        from kafka import KafkaConsumer

        self.consumer = KafkaConsumer(
            DOCUMENTS_INDEXED,
            bootstrap_servers=KafkaSettings().bootstrap_servers,
            group_id=f"demo-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self.latest: dict[str, str | None] = {}  # document id -> content hash indexed (None: deleted)

    def _drain(self) -> None:
        from twin_common.events import ChangeOp, DocumentIndexed

        for messages in self.consumer.poll(timeout_ms=500).values():
            for message in messages:
                event = DocumentIndexed.from_bytes(message.value)
                if event.tenant_id == TENANT:
                    self.latest[event.document_id] = None if event.op is ChangeOp.DELETE else event.content_hash

    def wait(self, want: dict[str, str | None], timeout_s: float = INDEX_TIMEOUT_S) -> float:
        """Wait until each document id has its wanted content hash indexed (None: its delete applied)."""
        started = time.monotonic()
        while True:
            self._drain()
            missing = [d for d, content_hash in want.items() if d not in self.latest or self.latest[d] != content_hash]
            if not missing:
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                raise SystemExit(f"{len(missing)} of {len(want)} documents not indexed after {timeout_s:.0f} s")

    def close(self) -> None:
        self.consumer.close()


# --- the demo --------------------------------------------------------------------------------------------


def openai_stream(key: str, question: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{GATEWAY}/v1", api_key=key)
    model = client.models.list().data[0].id
    print(f">>> OpenAI(base_url={GATEWAY}/v1).chat.completions.create(model={model!r}, stream=True)")
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": question}],
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=MAX_TOKENS,
        extra_body={"top_k": TOP_K},
    )
    citations, usage = [], None
    print("A: ", end="", flush=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            print(chunk.choices[0].delta.content, end="", flush=True)
        extra = chunk.model_extra or {}
        citations = extra.get("citations") or citations
        usage = chunk.usage or usage
    print()
    show_citations(citations)
    if usage is not None:
        print(f"  usage: {usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens")


def short_answer(gateway: Gateway, label: str, question: str) -> dict:
    answer = gateway.ask(question)
    print(f"\n[{label}] Q: {question}")
    print(f"A: {' '.join(answer['answer'].split())}")
    show_citations(answer["citations"])
    return answer


def product_demo() -> int:
    step("1. an API key for the demo tenant")
    created = json.loads(twin("keys", "create", "--tenant", TENANT, "--name", "make-demo", "--json"))
    key, key_id = created["key"], created["id"]
    print(f"key {key_id} for tenant {created['tenant_id']}, scopes {','.join(created['scopes'])}: {key[:12]}...")
    gateway = Gateway(key)
    events = IndexedEvents()
    try:
        step(f"2. ingest the sample corpus through the gateway (POST {GATEWAY}/v1/documents)")
        documents = corpus_documents()
        report = gateway.ingest(documents)
        print(
            f"{len(documents)} documents sent: {report['stored']} stored, {report['updated']} updated, "
            f"{report['unchanged']} unchanged, {len(report['rejected'])} rejected"
        )

        step("3. wait until every document is searchable (the embedder's twin.documents.indexed events)")
        listed = gateway.documents()
        waited = events.wait({d["document_id"]: d["content_hash"] for d in listed})
        print(f"{len(listed)} documents searchable ({waited:.1f} s after ingest returned)")

        step("4. ask over REST, the answer streamed as Server-Sent Events (POST /v1/ask/stream)")
        print(f"Q: {QUESTION}\nA: ", end="", flush=True)
        started, first_token = time.monotonic(), None
        for chunk in gateway.ask_stream(QUESTION):
            if chunk.get("delta"):
                first_token = first_token or time.monotonic() - started
                print(chunk["delta"], end="", flush=True)
            if chunk.get("done"):
                print()
                show_citations(chunk["citations"])
                print(
                    f"  model {chunk['model']} {chunk['model_version']}, route {chunk['route']}, "
                    f"first token after {first_token or 0:.2f} s"
                )

        step("5. the same through the openai SDK")
        openai_stream(key, QUESTION)

        step(f"6. edit, then delete, one document: the answer follows ('{EDITED_NOTE}')")
        note = next(d for d in documents if d["external_id"] == EDITED_NOTE)
        short_answer(gateway, "before", FOLLOW_UP)
        gateway.ingest([{**note, "content": note["content"] + ADDENDUM}])
        edited = next(d for d in gateway.documents() if d["external_id"] == EDITED_NOTE)
        waited = events.wait({edited["document_id"]: edited["content_hash"]})
        print(f"\nedited {EDITED_NOTE}: indexed {waited:.1f} s later")
        after_edit = short_answer(gateway, "after the edit", FOLLOW_UP)
        new_text = any(
            hit["document_id"] == edited["document_id"] and "Beatrix" in hit["text"]
            for hit in gateway.search(FOLLOW_UP)
        )
        cites_edit = new_text and any(c["document_id"] == edited["document_id"] for c in after_edit["citations"])
        print(f"  cites the edited note with the new sentence: {cites_edit}")
        gateway.delete(edited["document_id"])
        waited = events.wait({edited["document_id"]: None})
        print(f"\ndeleted {EDITED_NOTE}: removed from the index {waited:.1f} s later")
        after_delete = short_answer(gateway, "after the delete", FOLLOW_UP)
        still_cited = any(c["document_id"] == edited["document_id"] for c in after_delete["citations"])
        print(f"  cites the deleted note: {still_cited}")
    finally:
        events.close()

    step("7. revoke the key: the gateway refuses it")
    twin("keys", "revoke", key_id)
    time.sleep(1.5)  # a revocation is seen by every gateway replica within 1 s
    refused = gateway.http.post("/v1/search", json={"query": "hive"})
    print(f"POST /v1/search with the revoked key: HTTP {refused.status_code} {refused.json()}")
    print("\ndemo done: re-running it is safe (ingest is idempotent; the note is stored again)")
    web_app()
    return 0 if cites_edit and not still_cited and refused.status_code == 401 else 1


def web_app() -> None:
    """The last word: where people use the twin themselves, with a fresh key of the demo's tenant."""
    step("8. your turn: the web app and the terminal")
    created = json.loads(twin("keys", "create", "--tenant", TENANT, "--name", "web-app", "--json"))
    print(f'  in a terminal: export TWIN_API_KEY={created["key"]}; twin ask "{QUESTION}"   (or: twin chat)')
    print(f"  sign in to the web app with the key {created['key']} (tenant {TENANT})")
    print(f"the web app: {GATEWAY}/app/", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--cdc" in args:
        import demo_cdc

        return demo_cdc.main()
    return product_demo()


if __name__ == "__main__":
    sys.exit(main())
