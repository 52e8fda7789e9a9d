"""The three served models: twin-embed, twin-rerank (dynamically batched) and twin-llm (streamed)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator

import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferRequest, InferResponse
from twin_common.telemetry.genai import generation_attributes, model_call
from twin_inference_client.schema import (
    EMBED_SCHEMA,
    LLM_SCHEMA,
    RERANK_SCHEMA,
    GenerationParams,
    InvalidGenerationParams,
)

from twin_inference.batching import DynamicBatcher
from twin_inference.generation import GenerationInputError, TokenEvent
from twin_inference.tensors import bytes_column, check_input_names, response, text_rows
from twin_inference.versioned import VersionedModel


class BatchedModel(VersionedModel):
    """A versioned model whose rows go through a DynamicBatcher."""

    def __init__(self, *args, max_batch_size: int, max_batch_delay_s: float, max_rows_per_request: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_rows_per_request = max_rows_per_request
        self.batcher = DynamicBatcher(self._run_batch, max_batch_size=max_batch_size, max_delay_s=max_batch_delay_s)

    def _check_rows(self, rows: list) -> None:
        if len(rows) > self.max_rows_per_request:
            raise InvalidInput(
                f"{len(rows)} rows in one request; {self.name} accepts at most {self.max_rows_per_request}"
            )

    def _run_batch(self, rows: list) -> tuple[list, str]:
        raise NotImplementedError


class EmbedModel(BatchedModel):
    def __init__(self, **kwargs):
        super().__init__(EMBED_SCHEMA, **kwargs)

    def _run_batch(self, rows: list[str]) -> tuple[list, str]:
        loaded = self.current  # one snapshot per batch: the version reported is the one that computed it
        return list(loaded.backend.embed(rows)), loaded.info.version

    async def predict(self, payload: InferRequest, headers=None) -> InferResponse:
        with model_call("embeddings", self.name) as call:
            check_input_names(payload, self.schema)
            texts = text_rows(payload, "text")
            self._check_rows(texts)
            vectors, version = await self.batcher.submit(texts)
            call.finish(response_model=self.current.info.name, version=version, rows=len(texts))
        return response(payload, self.name, version, [("embedding", np.stack(vectors).astype(np.float32), "FP32")])


class RerankModel(BatchedModel):
    def __init__(self, **kwargs):
        super().__init__(RERANK_SCHEMA, **kwargs)

    def _run_batch(self, rows: list[tuple[str, str]]) -> tuple[list, str]:
        loaded = self.current
        return list(loaded.backend.score(rows)), loaded.info.version

    async def predict(self, payload: InferRequest, headers=None) -> InferResponse:
        with model_call("rerank", self.name) as call:
            check_input_names(payload, self.schema)
            queries, passages = text_rows(payload, "query"), text_rows(payload, "passage")
            if len(queries) != len(passages):
                raise InvalidInput(f"query has {len(queries)} rows and passage {len(passages)}: they must match")
            self._check_rows(queries)
            scores, version = await self.batcher.submit(list(zip(queries, passages, strict=True)))
            call.finish(response_model=self.current.info.name, version=version, rows=len(queries))
        return response(payload, self.name, version, [("score", np.asarray(scores, np.float32).reshape(-1, 1), "FP32")])


class LlmModel(VersionedModel):
    def __init__(self, *, max_concurrent_generations: int, **kwargs):
        super().__init__(LLM_SCHEMA, **kwargs)
        self._slots = asyncio.Semaphore(max_concurrent_generations)

    def _parse(self, payload: InferRequest) -> tuple[list[int], GenerationParams]:
        check_input_names(payload, self.schema)
        prompts = text_rows(payload, "text_input")
        messages_rows = text_rows(payload, "messages")
        param_rows = text_rows(payload, "sampling_parameters")
        for name, rows in (("text_input", prompts), ("messages", messages_rows), ("sampling_parameters", param_rows)):
            if rows is not None and len(rows) != 1:
                raise InvalidInput(f"{self.name} takes one generation per request; '{name}' has {len(rows)} rows")
        messages = None
        if messages_rows is not None:
            try:
                messages = json.loads(messages_rows[0])
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"messages is not valid JSON: {exc}") from exc
        try:
            raw = json.loads(param_rows[0]) if param_rows else {}
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"sampling_parameters is not valid JSON: {exc}") from exc
        try:
            params = GenerationParams.from_mapping(raw)
        except InvalidGenerationParams as exc:
            raise InvalidInput(f"bad sampling_parameters: {exc}") from exc
        backend = self.current.backend
        try:
            backend.check_params(params)
            ids = backend.prompt_ids(prompts[0] if prompts else None, messages)
        except GenerationInputError as exc:
            raise InvalidInput(str(exc)) from exc
        return ids, params

    async def events(self, payload: InferRequest) -> AsyncIterator[tuple[str, TokenEvent]]:
        """(version, token event) pairs of one generation; the last event carries finish_reason."""
        operation = "chat" if text_rows(payload, "messages") is not None else "text_completion"
        # not the current span: this generator yields while the generation runs
        with model_call(operation, self.name, current=False) as call:
            ids, params = self._parse(payload)
            call.span.set_attributes(generation_attributes(params))
            async with contextlib.aclosing(self._generate(payload, ids, params, call)) as generation:
                async for item in generation:  # closing this generator closes (and cancels) the generation
                    yield item

    async def _generate(self, payload, ids, params, call) -> AsyncIterator[tuple[str, TokenEvent]]:
        loaded = self.current
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[TokenEvent | BaseException] = asyncio.Queue()
        cancel = threading.Event()

        def produce() -> None:
            try:
                for event in loaded.backend.stream(ids, params, cancel):
                    loop.call_soon_threadsafe(queue.put_nowait, event)
            except BaseException as exc:  # surfaced to the caller as an error response
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        async with self._slots:
            worker = loop.run_in_executor(None, produce)
            try:
                while True:
                    event = await queue.get()
                    if isinstance(event, BaseException):
                        raise event
                    if event.text:
                        call.first_token()
                    if event.finish_reason is not None:
                        call.finish(
                            input_tokens=event.prompt_tokens,
                            output_tokens=event.completion_tokens,
                            finish_reason=event.finish_reason,
                            response_model=loaded.info.name,
                            version=loaded.info.version,
                        )
                    yield loaded.info.version, event
                    if event.finish_reason is not None:
                        break
            finally:
                cancel.set()  # a client that went away stops the generation at the next token
                await worker

    async def stream(self, payload: InferRequest) -> AsyncIterator[InferResponse]:
        """One V2 response per generated piece of text (gRPC ModelStreamInfer)."""
        async for version, event in self.events(payload):
            yield self._response(payload, version, event.text, event)

    async def predict(self, payload: InferRequest, headers=None) -> InferResponse:
        parts: list[str] = []
        version, last = None, None
        async for version, event in self.events(payload):  # noqa: B007 (the last version answers)
            parts.append(event.text)
            last = event
        return self._response(payload, version, "".join(parts), last)

    def _response(self, payload: InferRequest, version: str, text: str, event: TokenEvent) -> InferResponse:
        return response(
            payload,
            self.name,
            version,
            [
                ("text_output", bytes_column([text]), "BYTES"),
                ("finish_reason", bytes_column([event.finish_reason or ""]), "BYTES"),
                ("prompt_tokens", np.array([[event.prompt_tokens]], np.int32), "INT32"),
                ("completion_tokens", np.array([[event.completion_tokens]], np.int32), "INT32"),
            ],
        )
