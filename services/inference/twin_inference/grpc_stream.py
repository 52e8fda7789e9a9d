"""gRPC token streaming: the `ModelStreamInfer` method of inference.GRPCInferenceService (Triton's
decoupled-model streaming, which tritonclient.grpc's `start_stream` / `async_stream_infer` speak).

KServe 0.21's servicer has no streaming method, so this adds one to the same gRPC server. Each request
on the stream produces one response per generated piece of text, the last with a non-empty
finish_reason output. Triton's ModelStreamInferResponse is {1: error_message, 2: infer_response}; it is
encoded here directly (the proto shipped with kserve does not define it).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.infer_type import InferRequest

log = logging.getLogger(__name__)

SERVICE = "inference.GRPCInferenceService"
METHOD = "ModelStreamInfer"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_stream_response(infer_response: bytes | None = None, error_message: str | None = None) -> bytes:
    out = b""
    if error_message:
        data = error_message.encode()
        out += b"\x0a" + _varint(len(data)) + data
    if infer_response is not None:
        out += b"\x12" + _varint(len(infer_response)) + infer_response
    return out


def stream_handler(models: dict) -> grpc.GenericRpcHandler:
    """A generic handler serving ModelStreamInfer for the models that have a `stream` method."""

    async def model_stream_infer(request_iterator, context) -> AsyncIterator[bytes]:
        async for request in request_iterator:
            try:
                model = models.get(request.model_name)
                if model is None:
                    raise ModelNotFound(request.model_name)
                if not hasattr(model, "stream"):
                    raise InvalidInput(f"model {request.model_name} does not stream; use ModelInfer")
                infer_request = InferRequest.from_grpc(request)
                async for chunk in model.stream(infer_request):
                    yield encode_stream_response(chunk.to_grpc().SerializeToString())
            except (InvalidInput, ModelNotFound, ModelNotReady) as exc:
                yield encode_stream_response(error_message=f"{type(exc).__name__}: {_reason(exc)}")
            except Exception as exc:
                log.exception("stream inference failed")
                yield encode_stream_response(error_message=f"internal error: {type(exc).__name__}")

    handler = grpc.stream_stream_rpc_method_handler(
        model_stream_infer,
        request_deserializer=pb.ModelInferRequest.FromString,
        response_serializer=lambda data: data,
    )
    return grpc.method_handlers_generic_handler(SERVICE, {METHOD: handler})


def _reason(exc: Exception) -> str:
    return getattr(exc, "reason", None) or str(exc)
