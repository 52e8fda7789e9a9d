"""Model endpoints: one adapter per protocol, each streaming `Piece`s of text and raising `EndpointError`.

- kserve-grpc: the inference service's V2 gRPC `ModelStreamInfer` through `twin_inference_client.generate_stream`
  (a blocking iterator: it runs on a worker thread and hands pieces to the event loop as they arrive; closing
  the async stream stops the thread's iterator, which cancels the generation on the server);
- kserve-http: V2 REST `generate` (no streaming in V2 REST: the answer arrives as one piece);
- openai: any OpenAI-compatible server (vLLM, a hosted API) through the `openai` SDK, streamed.
The service token (TWIN_SERVICE_TOKEN) goes with every call to our own inference service.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import os
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from dataclasses import dataclass

from twin_gateway.router.routes import EndpointConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Piece:
    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    model_version: str | None = None


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float
    top_p: float = 1.0
    stop: tuple[str, ...] = ()


class EndpointError(Exception):
    """A failed call. `retryable`: worth another try on the same endpoint (unavailable, timeout);
    `invalid`: the request itself was refused (too long a prompt...): no retry, no fallback, no breaker failure."""

    def __init__(self, message: str, *, retryable: bool = False, invalid: bool = False, kind: str = "error"):
        super().__init__(message)
        self.retryable = retryable
        self.invalid = invalid
        self.kind = kind


class ModelEndpoint:
    def __init__(self, name: str, config: EndpointConfig):
        self.name = name
        self.config = config

    def stream(self, messages: list[dict[str, str]], sampling: Sampling) -> AsyncIterator[Piece]:
        raise NotImplementedError

    async def close(self) -> None:
        return None


def _map_inference_error(exc: Exception) -> EndpointError:
    from twin_inference_client.errors import InferenceTimeout, InvalidRequest, ModelNotFound, ModelUnavailable

    if isinstance(exc, InvalidRequest):
        return EndpointError(str(exc), invalid=True, kind="invalid")
    if isinstance(exc, InferenceTimeout):
        return EndpointError(str(exc), retryable=True, kind="timeout")
    if isinstance(exc, ModelNotFound):  # the route names a model this endpoint does not serve: configuration
        return EndpointError(str(exc), kind="model_not_found")
    if isinstance(exc, ModelUnavailable):
        return EndpointError(str(exc), retryable=True, kind="unavailable")
    return EndpointError(f"{type(exc).__name__}: {exc}", kind="error")


def _inference_client(config: EndpointConfig, protocol: str, service_headers: dict[str, str]):
    from twin_inference_client import InferenceClient

    kwargs = {"timeout_s": config.timeout_s, "retries": 0, "llm_model": config.model}
    # Our inference service requires the service token; the client takes it once it supports headers.
    parameters = inspect.signature(InferenceClient).parameters
    if service_headers and "headers" in parameters:
        kwargs["headers"] = service_headers
    elif service_headers and "service_token" in parameters:
        kwargs["service_token"] = next(iter(service_headers.values()))
    return InferenceClient(config.url, protocol, **kwargs)


class KServeGrpcEndpoint(ModelEndpoint):
    def __init__(self, name: str, config: EndpointConfig, executor: Executor, service_headers: dict[str, str]):
        super().__init__(name, config)
        self.executor = executor
        self.client = _inference_client(config, "grpc", service_headers)

    async def stream(self, messages: list[dict[str, str]], sampling: Sampling) -> AsyncIterator[Piece]:
        from twin_inference_client.schema import GenerationParams

        params = GenerationParams(
            max_tokens=sampling.max_tokens, temperature=sampling.temperature, top_p=sampling.top_p, stop=sampling.stop
        )
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        stop = threading.Event()

        def hand_over(kind: str, value: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
            except RuntimeError:  # the loop is gone (shutdown): nobody is listening any more
                stop.set()

        def produce() -> None:
            pieces = self.client.generate_stream(messages=messages, params=params)
            try:
                for chunk in pieces:
                    hand_over("piece", chunk)
                    if stop.is_set():
                        return
                hand_over("end", None)
            except Exception as exc:  # noqa: BLE001 - handed to the event loop as it is
                hand_over("error", exc)
            finally:
                pieces.close()  # stops the stream; with cancel_requests the server stops generating

        # the OTel context travels with the thread, so the gRPC client's span joins the request's trace
        context = contextvars.copy_context()
        loop.run_in_executor(self.executor, context.run, produce)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "end":
                    return
                if kind == "error":
                    raise _map_inference_error(value)  # type: ignore[arg-type]
                chunk = value
                yield Piece(
                    text=chunk.text,
                    finish_reason=chunk.finish_reason,
                    prompt_tokens=chunk.prompt_tokens,
                    completion_tokens=chunk.completion_tokens,
                    model_version=chunk.model_version,
                )
                if chunk.finish_reason:
                    return
        finally:
            stop.set()

    async def close(self) -> None:
        self.client.close()


class KServeHttpEndpoint(ModelEndpoint):
    """V2 REST has no streaming: one call, one piece. One client per worker thread (tritonclient's HTTP client is
    not thread-safe)."""

    def __init__(self, name: str, config: EndpointConfig, executor: Executor, service_headers: dict[str, str]):
        super().__init__(name, config)
        self.executor = executor
        self.service_headers = service_headers
        self._local = threading.local()

    def _client(self):
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = _inference_client(self.config, "http", self.service_headers)
        return client

    async def stream(self, messages: list[dict[str, str]], sampling: Sampling) -> AsyncIterator[Piece]:
        from twin_inference_client.schema import GenerationParams

        params = GenerationParams(
            max_tokens=sampling.max_tokens, temperature=sampling.temperature, top_p=sampling.top_p, stop=sampling.stop
        )

        def call():
            return self._client().generate(messages=messages, params=params)

        try:
            result = await asyncio.get_running_loop().run_in_executor(
                self.executor, contextvars.copy_context().run, call
            )
        except Exception as exc:  # noqa: BLE001
            raise _map_inference_error(exc) from exc
        yield Piece(
            text=result.text,
            finish_reason=result.finish_reason or "stop",
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            model_version=result.model_version,
        )


class OpenAIEndpoint(ModelEndpoint):
    def __init__(self, name: str, config: EndpointConfig):
        super().__init__(name, config)
        import openai

        self._openai = openai
        api_key = os.environ.get(config.api_key_env, "") if config.api_key_env else ""
        self.client = openai.AsyncOpenAI(
            base_url=config.url, api_key=api_key or "unused", timeout=config.timeout_s, max_retries=0
        )

    async def stream(self, messages: list[dict[str, str]], sampling: Sampling) -> AsyncIterator[Piece]:
        openai = self._openai
        try:
            response = await self.client.chat.completions.create(
                model=self.config.model,
                messages=messages,
                max_tokens=sampling.max_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                stop=list(sampling.stop) or None,
                stream=True,
                stream_options={"include_usage": True},
            )
            try:
                finish, version, last = None, None, None
                async for chunk in response:
                    if last is not None:
                        # only `[DONE]` follows the usage chunk: read the stream to its end, so the HTTP connection
                        # goes back to the pool (leaving it unread cost a new TCP connection per request)
                        continue
                    version = chunk.model or version
                    if chunk.choices:
                        choice = chunk.choices[0]
                        text = choice.delta.content or ""
                        finish = choice.finish_reason or finish
                        if text:
                            yield Piece(text=text, model_version=version)
                    if chunk.usage is not None:
                        last = Piece(
                            text="",
                            finish_reason=finish or "stop",
                            prompt_tokens=chunk.usage.prompt_tokens,
                            completion_tokens=chunk.usage.completion_tokens,
                            model_version=version,
                        )
                yield last or Piece(text="", finish_reason=finish or "stop", model_version=version)
            finally:
                await response.close()  # now, not at garbage collection (a stream stopped early, a retraction)
        except (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError) as exc:
            raise EndpointError(f"{self.name}: {exc}", retryable=True, kind="unavailable") from exc
        except openai.RateLimitError as exc:
            raise EndpointError(f"{self.name}: rate limited upstream", retryable=True, kind="rate_limited") from exc
        except openai.BadRequestError as exc:
            raise EndpointError(f"{self.name}: {exc.message}", invalid=True, kind="invalid") from exc
        except openai.APIError as exc:
            raise EndpointError(f"{self.name}: {exc}", kind="error") from exc

    async def close(self) -> None:
        await self.client.close()


def build_endpoint(
    name: str, config: EndpointConfig, executor: Executor, service_headers: dict[str, str]
) -> ModelEndpoint:
    if config.kind == "kserve-grpc":
        return KServeGrpcEndpoint(name, config, executor, service_headers)
    if config.kind == "kserve-http":
        return KServeHttpEndpoint(name, config, executor, service_headers)
    return OpenAIEndpoint(name, config)
