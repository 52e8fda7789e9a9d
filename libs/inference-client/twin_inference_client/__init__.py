"""Client of the twin inference service (V2 protocol over REST or gRPC).

`from twin_inference_client import InferenceClient` loads tritonclient; `twin_inference_client.schema`
alone does not, so the model server (which cannot import tritonclient.grpc next to kserve) can share
the tensor names and types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = [
    "Generation",
    "GenerationParams",
    "InferenceClient",
    "InferenceError",
    "InferenceTimeout",
    "InvalidRequest",
    "ModelNotFound",
    "ModelUnavailable",
    "StreamChunk",
    "Unauthenticated",
]

if TYPE_CHECKING:
    from twin_inference_client.client import InferenceClient
    from twin_inference_client.errors import (
        InferenceError,
        InferenceTimeout,
        InvalidRequest,
        ModelNotFound,
        ModelUnavailable,
        Unauthenticated,
    )
    from twin_inference_client.schema import Generation, GenerationParams, StreamChunk


def __getattr__(name: str):
    if name == "InferenceClient":
        from twin_inference_client.client import InferenceClient

        return InferenceClient
    if name in {
        "InferenceError",
        "InferenceTimeout",
        "InvalidRequest",
        "ModelNotFound",
        "ModelUnavailable",
        "Unauthenticated",
    }:
        from twin_inference_client import errors

        return getattr(errors, name)
    if name in {"Generation", "GenerationParams", "StreamChunk"}:
        from twin_inference_client import schema

        return getattr(schema, name)
    raise AttributeError(name)
