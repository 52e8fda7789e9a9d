"""InferenceClient: the twin models over the V2 protocol with tritonclient (HTTP or gRPC).

Timeouts on every call, retries with exponential backoff for unavailable servers and timeouts (never for
a rejected request), and errors mapped to the exceptions in `errors`. One client per thread: the HTTP
transport of tritonclient (gevent) is not thread-safe. Every call carries the shared service token
(`service_token`, by default TWIN_SERVICE_TOKEN from twin_common.settings.InternalAuthSettings) as the
`x-twin-service-token` header / gRPC metadata; a call the server refuses for it raises `Unauthenticated`
(never retried).
"""

from __future__ import annotations

import json
import queue
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from twin_inference_client.errors import (
    RETRYABLE,
    InferenceError,
    InferenceTimeout,
    InvalidRequest,
    from_triton,
)
from twin_inference_client.schema import (
    EMBED_MODEL,
    LLM_MODEL,
    RERANK_MODEL,
    Generation,
    GenerationParams,
    StreamChunk,
)

T = TypeVar("T")
Messages = Sequence[dict[str, str]]


class InferenceClient:
    def __init__(
        self,
        url: str,
        protocol: str = "http",
        *,
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.2,
        embed_model: str = EMBED_MODEL,
        rerank_model: str = RERANK_MODEL,
        llm_model: str = LLM_MODEL,
        max_rows_per_call: int = 256,
        service_token: str | None = None,
    ):
        if protocol not in ("http", "grpc"):
            raise ValueError(f"protocol must be 'http' or 'grpc', not {protocol!r}")
        self.url = url.removeprefix("http://").removeprefix("grpc://")
        self.protocol = protocol
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.embed_model, self.rerank_model, self.llm_model = embed_model, rerank_model, llm_model
        self.max_rows_per_call = max_rows_per_call  # longer lists are sent in several calls
        self.headers = _token_headers(service_token)
        if protocol == "http":
            import tritonclient.http as triton

            self._client = triton.InferenceServerClient(
                url=self.url, connection_timeout=timeout_s, network_timeout=timeout_s
            )
        else:
            import tritonclient.grpc as triton

            self._client = triton.InferenceServerClient(url=self.url)
        self._triton = triton

    # --- health -------------------------------------------------------------------------------

    def is_ready(self, model: str | None = None) -> bool:
        """Whether the server (or one model) is ready; False when it cannot be reached."""
        try:
            if model is None:
                return bool(self._client.is_server_ready(headers=self.headers))
            return bool(self._client.is_model_ready(model, headers=self.headers))
        except Exception:
            return False

    def metadata(self, model: str) -> dict[str, Any]:
        def call():
            if self.protocol == "grpc":
                return self._client.get_model_metadata(
                    model, headers=self.headers, as_json=True, client_timeout=self.timeout_s
                )
            return self._client.get_model_metadata(model, headers=self.headers)

        return self._retrying(call, model)

    # --- models -------------------------------------------------------------------------------

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One float32 vector per text, shape (len(texts), dim)."""
        return self.embed_versioned(texts)[0]

    def embed_versioned(self, texts: Sequence[str]) -> tuple[np.ndarray, str | None]:
        _check_texts(texts, "texts")
        parts, version = [], None
        for chunk in self._chunks(texts):
            result = self._infer(self.embed_model, [self._bytes_input("text", chunk)], ["embedding"])
            parts.append(result.as_numpy("embedding").astype(np.float32))
            version = _version(result)
        return np.concatenate(parts), version

    def rerank(self, query: str, passages: Sequence[str]) -> list[float]:
        """One relevance score per passage (higher is more relevant), in the passages' order."""
        return self.rerank_versioned(query, passages)[0]

    def rerank_versioned(self, query: str, passages: Sequence[str]) -> tuple[list[float], str | None]:
        _check_texts(passages, "passages")
        scores, version = [], None
        for chunk in self._chunks(passages):
            inputs = [self._bytes_input("query", [query] * len(chunk)), self._bytes_input("passage", chunk)]
            result = self._infer(self.rerank_model, inputs, ["score"])
            scores += result.as_numpy("score").reshape(-1).astype(float).tolist()
            version = _version(result)
        return scores, version

    def generate(
        self,
        prompt: str | None = None,
        *,
        messages: Messages | None = None,
        params: GenerationParams | dict | None = None,
    ) -> Generation:
        inputs = self._generation_inputs(prompt, messages, params)
        outputs = ["text_output", "finish_reason", "prompt_tokens", "completion_tokens"]
        result = self._infer(self.llm_model, inputs, outputs)
        return Generation(
            text=_first_str(result.as_numpy("text_output")),
            finish_reason=_first_str(result.as_numpy("finish_reason")),
            prompt_tokens=int(result.as_numpy("prompt_tokens").reshape(-1)[0]),
            completion_tokens=int(result.as_numpy("completion_tokens").reshape(-1)[0]),
            model_version=_version(result),
        )

    def generate_stream(
        self,
        prompt: str | None = None,
        *,
        messages: Messages | None = None,
        params: GenerationParams | dict | None = None,
    ) -> Iterator[StreamChunk]:
        """Text pieces as the model produces them (gRPC ModelStreamInfer); the last has finish_reason.

        Needs protocol="grpc" (the V2 REST protocol has no streaming). `timeout_s` bounds the wait for
        each piece. Not retried once a piece has arrived.
        """
        if self.protocol != "grpc":
            raise InferenceError(
                "generate_stream needs protocol='grpc' (V2 REST has no streaming)", model=self.llm_model
            )
        inputs = self._generation_inputs(prompt, messages, params)
        client = self._triton.InferenceServerClient(url=self.url)  # one stream per gRPC client
        pieces: queue.Queue = queue.Queue()
        client.start_stream(callback=lambda result, error: pieces.put((result, error)), headers=self.headers)
        try:
            try:
                client.async_stream_infer(self.llm_model, inputs, request_id=uuid.uuid4().hex)
            except Exception as exc:  # a stream the server ended at once (e.g. refused): its reason is queued
                try:
                    _, error = pieces.get(timeout=1)
                except queue.Empty:
                    error = exc
                raise from_triton(error or exc, self.llm_model) from exc
            while True:
                try:
                    result, error = pieces.get(timeout=self.timeout_s)
                except queue.Empty:
                    raise InferenceTimeout(
                        f"{self.llm_model}: no token within {self.timeout_s} s", model=self.llm_model
                    ) from None
                if error is not None:
                    raise from_triton(error, self.llm_model)
                finish = _first_str(result.as_numpy("finish_reason"))
                yield StreamChunk(
                    text=_first_str(result.as_numpy("text_output")),
                    finish_reason=finish or None,
                    prompt_tokens=int(result.as_numpy("prompt_tokens").reshape(-1)[0]),
                    completion_tokens=int(result.as_numpy("completion_tokens").reshape(-1)[0]),
                    model_version=_version(result),
                )
                if finish:
                    return
        finally:
            client.stop_stream(cancel_requests=True)
            client.close()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> InferenceClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- plumbing -----------------------------------------------------------------------------

    def _chunks(self, rows: Sequence[str]) -> list[Sequence[str]]:
        step = max(1, self.max_rows_per_call)
        return [rows[i : i + step] for i in range(0, len(rows), step)]

    def _generation_inputs(self, prompt, messages, params) -> list:
        if (prompt is None) == (messages is None):
            raise InvalidRequest("give exactly one of prompt or messages", model=self.llm_model)
        if isinstance(params, dict):
            params = GenerationParams.from_mapping(params)
        params = params or GenerationParams()
        inputs = [self._bytes_input("sampling_parameters", [params.to_json()])]
        if prompt is not None:
            inputs.append(self._bytes_input("text_input", [prompt]))
        else:
            inputs.append(self._bytes_input("messages", [json.dumps(list(messages))]))
        return inputs

    def _bytes_input(self, name: str, values: Sequence[str]):
        array = np.array([v.encode("utf-8") for v in values], dtype=np.object_).reshape(-1, 1)
        tensor = self._triton.InferInput(name, list(array.shape), "BYTES")
        if self.protocol == "http":
            tensor.set_data_from_numpy(array, binary_data=True)
        else:
            tensor.set_data_from_numpy(array)
        return tensor

    def _infer(self, model: str, inputs: list, outputs: list[str]):
        if self.protocol == "http":
            requested = [self._triton.InferRequestedOutput(name, binary_data=True) for name in outputs]
            # the service token, and the caller's trace context (gRPC calls get it from the gRPC instrumentation)
            headers = {**self.headers, **_trace_headers()}
            return self._retrying(lambda: self._client.infer(model, inputs, outputs=requested, headers=headers), model)
        requested = [self._triton.InferRequestedOutput(name) for name in outputs]
        return self._retrying(
            lambda: self._client.infer(
                model, inputs, outputs=requested, client_timeout=self.timeout_s, headers=self.headers
            ),
            model,
        )

    def _retrying(self, call: Callable[[], T], model: str | None) -> T:
        for attempt in range(self.retries + 1):
            try:
                return call()
            except InferenceError:
                raise
            except Exception as exc:  # InferenceServerException or a transport error
                error = from_triton(exc, model)
                if not isinstance(error, RETRYABLE) or attempt == self.retries:
                    raise error from exc
            time.sleep(self.backoff_s * (2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")


def _token_headers(token: str | None) -> dict[str, str]:
    """The service-token header: the given token, else TWIN_SERVICE_TOKEN from the settings (none if unset)."""
    from twin_common.settings import SERVICE_TOKEN_HEADER, InternalAuthSettings

    if token is None:
        configured = InternalAuthSettings().service_token
        token = configured.get_secret_value() if configured else None
    return {SERVICE_TOKEN_HEADER: token} if token else {}


def _trace_headers() -> dict[str, str]:
    """W3C trace context of the current span as HTTP headers (empty when nothing is traced)."""
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def _check_texts(texts: Sequence[str], what: str) -> None:
    if isinstance(texts, str) or not texts:
        raise InvalidRequest(f"{what} must be a non-empty list of strings")


def _first_str(array: np.ndarray) -> str:
    value = array.reshape(-1)[0]
    return value.decode("utf-8") if isinstance(value, bytes | bytearray) else str(value)


def _version(result) -> str | None:
    response = result.get_response()
    if isinstance(response, dict):
        return response.get("model_version") or None
    return getattr(response, "model_version", None) or None
