"""Reading V2 request tensors and writing V2 response tensors, with clear errors for bad requests."""

from __future__ import annotations

import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from twin_inference_client.schema import ModelSchema


def check_input_names(request: InferRequest, schema: ModelSchema) -> None:
    known = {spec.name for spec in schema.inputs}
    for tensor in request.inputs:
        if tensor.name not in known:
            raise InvalidInput(f"unknown input '{tensor.name}' for {schema.name}; expected {sorted(known)}")
    for spec in schema.inputs:
        if not spec.optional and _find(request, spec.name) is None:
            raise InvalidInput(f"missing input '{spec.name}' for {schema.name}")


def text_rows(request: InferRequest, name: str) -> list[str] | None:
    """The strings of a BYTES input shaped [N] or [N, 1]; None when the input is absent."""
    tensor = _find(request, name)
    if tensor is None:
        return None
    if tensor.datatype != "BYTES":
        raise InvalidInput(f"input '{name}' must be BYTES, got {tensor.datatype}")
    shape = list(tensor.shape)
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) or shape[0] < 1:
        raise InvalidInput(f"input '{name}' must have shape [N] or [N, 1] with N >= 1, got {shape}")
    try:
        values = tensor.as_numpy().reshape(-1)
    except Exception as exc:
        raise InvalidInput(f"input '{name}' data does not match its shape {shape}: {exc}") from exc
    if values.shape[0] != shape[0]:
        raise InvalidInput(f"input '{name}' has {values.shape[0]} values for shape {shape}")
    rows = []
    for value in values:
        if isinstance(value, bytes | bytearray):
            try:
                value = bytes(value).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInput(f"input '{name}' is not valid UTF-8") from exc
        rows.append(str(value))
    return rows


def _find(request: InferRequest, name: str):
    for tensor in request.inputs:
        if tensor.name == name:
            return tensor
    return None


def response(
    request: InferRequest, model_name: str, version: str, outputs: list[tuple[str, np.ndarray, str]]
) -> InferResponse:
    """A V2 response whose outputs tritonclient can read over both HTTP (binary or JSON) and gRPC."""
    infer_outputs = []
    for name, array, datatype in outputs:
        out = InferOutput(name=name, shape=list(array.shape), datatype=datatype)
        out.set_data_from_numpy(array, binary_data=bool(request.from_grpc))
        infer_outputs.append(out)
    return InferResponse(
        response_id=request.id or "",
        model_name=model_name,
        model_version=version,
        infer_outputs=infer_outputs,
        from_grpc=request.from_grpc,
        use_binary_outputs=request.use_binary_outputs,
    )


def bytes_column(values: list[str]) -> np.ndarray:
    return np.array([v.encode("utf-8") for v in values], dtype=np.object_).reshape(-1, 1)
