"""A scripted OpenAI-compatible model for gateway tests: it records every request's messages and streams an answer
built from them, so what reached the model can be asserted and an answer that must be retracted can be forced
(a recorded reply, as the OpenTelemetry demo does for its LLM calls).

- The answer quotes the first sentence of context passage [1] and cites it: "Per the notes: <sentence> [1]."
- Placeholders of masked values in the question ("[EMAIL_ADDRESS_1]") are echoed.
- A question containing SCRIPT-RUDE gets an answer that turns offensive half-way.
"""

from __future__ import annotations

import json
import re
import threading
import time

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

RUDE = "SCRIPT-RUDE"
PASSAGE_ONE = re.compile(r"\[1\][^\n]*\n([^\n]+)")
PLACEHOLDER = re.compile(r"\[[A-Z_]+_\d+\]")


def answer_for(messages: list[dict]) -> list[str]:
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    question = messages[-1]["content"]
    if RUDE in question:
        return ["Hives are ", "warm in winter. ", "Honestly you are a ", "fucking idiot ", "for asking. ", "Bye."]
    pieces = []
    placeholders = PLACEHOLDER.findall(question)
    if placeholders:
        pieces.append(f"Writing to {placeholders[0]}: ")
    passage = PASSAGE_ONE.search(system)
    if passage:
        sentence = passage.group(1).split(". ")[0].rstrip(".")
        words = f"Per the notes: {sentence} [1].".split(" ")
        pieces += [w + " " for w in words[:-1]] + [words[-1]]
    else:
        pieces += ["I found ", "nothing on that."]
    return pieces


class ScriptedUpstream:
    def __init__(self, port: int, model_version: str = "scripted-v1"):
        self.port = port
        self.model_version = model_version
        self.requests: list[list[dict]] = []
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            self.requests.append(body["messages"])
            pieces = answer_for(body["messages"])

            def events():
                for piece in pieces:
                    chunk = {
                        "id": "c1",
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                        "model": self.model_version,
                        "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                    }
                    yield f"data: {json.dumps(chunk)}\n\n"
                done = {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": self.model_version,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                }
                yield f"data: {json.dumps(done)}\n\n"
                usage = {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": self.model_version,
                    "choices": [],
                    "usage": {"prompt_tokens": 10, "completion_tokens": len(pieces), "total_tokens": 10 + len(pieces)},
                }
                yield f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ScriptedUpstream:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def saw(self, text: str) -> bool:
        return any(text in m["content"] for messages in self.requests for m in messages)


def routes_yaml(port: int, max_tokens: int = 128) -> str:
    """A routes file (TWIN_ROUTES_FILE) with one route `twin` on the scripted model at `port`."""
    return (
        "default_route: twin\n"
        "endpoints:\n"
        f"  scripted: {{kind: openai, url: 'http://127.0.0.1:{port}/v1', model: scripted, timeout_s: 30}}\n"
        "routes:\n"
        f"  twin: {{endpoints: [scripted], timeout_s: 60, retries: 0, max_tokens: {max_tokens}}}\n"
    )
