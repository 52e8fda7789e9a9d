"""The front door: gRPC, REST and OpenAI-compatible API with keys, quotas, routing, RAG and streamed answers.

`from twin_gateway import run`: `await run(settings, vector_store=None, embedder=None)` serves both surfaces until
cancelled (see twin_gateway/server.py).
"""


async def run(settings=None, vector_store=None, embedder=None, **kwargs):
    from twin_gateway.server import run as _run

    await _run(settings, vector_store, embedder, **kwargs)
