"""`twin login`, `twin ask` and `twin chat` as people run them, against the running gateway of the local stack
(`make up`): the key from `twin login`'s file or TWIN_API_KEY, the answer streamed to the terminal with numbered
citations, filters by author name, kind and tag, JSON output, feedback from the chat, and refusals with their
exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from stack_keys import make_key
from stack_support import wait_for
from twin_common.settings import LOCAL_GATEWAY_PORT

pytestmark = pytest.mark.usefixtures("platform_stack")

GATEWAY = f"http://127.0.0.1:{LOCAL_GATEWAY_PORT}"
QUESTION = "How many frames of capped honey should the hive keep before winter?"
TWIN = [sys.executable, "-m", "twin_cli.main"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tenant = f"cli-{uuid.uuid4().hex[:8]}"
    key = make_key(tenant)
    http = httpx.Client(base_url=GATEWAY, headers={"Authorization": f"Bearer {key}"}, timeout=120)
    document = {
        "external_id": "notes/winter-hive.md",
        "kind": "note",
        "title": "Winter hive check",
        "tags": ["bees"],
        "content": "Before winter the hive should keep eight frames of capped honey, a laying queen and a mouse "
        "guard on the entrance.",
    }
    assert http.post("/v1/documents", json={"author": "Ada Lovelace", "documents": [document]}).json()["stored"] == 1

    def indexed():
        listed = http.get("/app/api/library").json()["documents"]
        return listed[0]["document_id"] if listed and listed[0]["journey"]["state"] == "indexed" else None

    document_id = wait_for(indexed, 180, "the document to be indexed")
    home = tmp_path_factory.mktemp("cli-home")
    env = {
        **os.environ,
        "TWIN_CONFIG": str(home / "config.json"),
        "TWIN_CACHE_DIR": str(home / "cache"),
        "TWIN_GATEWAY_URL": GATEWAY,
    }
    env.pop("TWIN_API_KEY", None)
    yield {"tenant": tenant, "key": key, "env": env, "document_id": document_id, "home": home}
    http.close()


def twin(world, *args, stdin: str | None = None, env: dict | None = None, timeout: float = 600):
    return subprocess.run(
        [*TWIN, *args], input=stdin, capture_output=True, text=True, env=env or world["env"], timeout=timeout
    )


def test_login_keeps_the_key_in_a_file_only_its_owner_reads(world):
    refused = twin(world, "login", stdin="twin_000000000000_wrong\n")
    assert refused.returncode == 1 and "refused the key" in refused.stderr
    result = twin(world, "login", stdin=world["key"] + "\n")
    assert result.returncode == 0, result.stderr
    assert f"as tenant {world['tenant']}" in result.stdout and world["key"] not in result.stdout
    path = world["home"] / "config.json"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert json.loads(path.read_text())["api_key"] == world["key"]
    status = twin(world, "login", "--status")
    assert status.returncode == 0 and f"tenant {world['tenant']}" in status.stdout and str(path) in status.stdout


def test_the_route_picker_offers_only_the_keys_routes(world):
    def routes(key: str) -> list[str]:
        session = httpx.get(f"{GATEWAY}/app/api/session", headers={"Authorization": f"Bearer {key}"}, timeout=30)
        return [r["id"] for r in session.json()["routes"]]

    assert routes(world["key"]) == ["twin"]
    assert routes(make_key(world["tenant"], routes=("twin-large",))) == []  # a route this gateway does not have
    chat = twin(world, "chat", stdin="/routes\n/exit\n")
    assert "twin (default)" in chat.stdout


def test_ask_streams_the_answer_then_numbered_citations(world):
    """Read as it is written: the first words arrive while the model still generates the rest."""
    proc = subprocess.Popen(
        [*TWIN, "ask", QUESTION, "--max-tokens", "24"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=world["env"],  # the key from `twin login`'s file: no TWIN_API_KEY here
    )
    pieces: list[tuple[float, bytes]] = []
    while True:
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            break
        pieces.append((time.monotonic(), chunk))
    proc.wait(timeout=60)
    stderr = proc.stderr.read().decode()
    out = b"".join(c for _, c in pieces).decode()
    assert proc.returncode == 0, stderr
    answer, _, sources = out.partition("Sources:\n")
    assert answer.strip() and sources.startswith("  [1] Winter hive check (passage 1) ")
    assert f"document={world['document_id']}&position=0" in sources.splitlines()[0]
    before_sources = [t for t, c in pieces if b"Sources:" not in c]
    assert len(before_sources) >= 2, pieces  # several writes of answer text: streamed, not printed at the end
    assert "model twin-llm" in stderr and "route twin" in stderr


def test_ask_with_filters_and_json(world):
    result = twin(
        world,
        "ask",
        "--json",
        "--author",
        "ada lovelace",
        "--kind",
        "note",
        "--tag",
        "bees",
        "--max-tokens",
        "8",
        QUESTION,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["question"] == QUESTION and answer["request_id"] and answer["route"] == "twin"
    assert [c["document_id"] for c in answer["citations"]] == [world["document_id"]]
    other_kind = twin(world, "ask", "--json", "--kind", "article", "--max-tokens", "8", QUESTION)
    assert json.loads(other_kind.stdout)["citations"] == []  # the filter reached retrieval
    unknown = twin(world, "ask", "--author", "Nobody", QUESTION)
    assert unknown.returncode == 2 and "no author named 'Nobody'" in unknown.stderr and "Ada Lovelace" in unknown.stderr


def test_chat_keeps_the_conversation_and_sends_feedback(world):
    env = {**world["env"], "TWIN_API_KEY": world["key"], "TWIN_CONFIG": str(world["home"] / "none.json")}
    script = f"{QUESTION}\n/sources\n/good\n/correct Eight frames of capped honey.\nAnd a mouse guard?\n/exit\n"
    result = twin(world, "chat", "--json", "--max-tokens", "12", stdin=script, env=env)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    first, sources, good, correct, second = lines
    assert first["question"] == QUESTION and first["citations"][0]["document_id"] == world["document_id"]
    assert "[1] Winter hive check" in sources["notice"]
    assert good["notice"] == correct["notice"] == f"(feedback sent for request {first['request_id']})"
    assert second["question"] == "And a mouse guard?" and second["request_id"] != first["request_id"]


def test_refusals_have_their_own_exit_codes(world):
    env = {**world["env"], "TWIN_API_KEY": make_key(world["tenant"], requests_per_minute=1)}
    # resolving the author name takes the key's one request of the minute: the question gets the 429
    result = twin(world, "ask", "--author", "Ada Lovelace", QUESTION, env=env)
    assert result.returncode == 4, result.stderr
    assert "quota reached: request rate limit" in result.stderr and "retry after" in result.stderr
    no_key = twin(world, "ask", QUESTION, env={**world["env"], "TWIN_CONFIG": str(world["home"] / "none.json")})
    assert no_key.returncode != 0 and "no API key" in no_key.stderr
    empty = twin(world, "ask", "   ")
    assert empty.returncode == 2
