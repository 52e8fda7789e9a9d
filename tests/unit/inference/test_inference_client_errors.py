"""The client maps V2 errors from either transport to exceptions a caller can act on, and retries only
what may succeed on a second try."""

from __future__ import annotations

import pytest
from tritonclient.utils import InferenceServerException
from twin_inference_client.client import InferenceClient
from twin_inference_client.errors import (
    InferenceError,
    InferenceTimeout,
    InvalidRequest,
    ModelNotFound,
    ModelUnavailable,
    from_triton,
)


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        ("400", "input 'text' must have shape [N]", InvalidRequest),
        ("StatusCode.INVALID_ARGUMENT", "max_tokens must be between 1 and 64", InvalidRequest),
        ("404", "Model with name x does not exist.", ModelNotFound),
        ("StatusCode.NOT_FOUND", "Model with name x does not exist.", ModelNotFound),
        ("503", "Model with name x is not ready.", ModelUnavailable),
        ("StatusCode.UNAVAILABLE", "failed to connect to all addresses", ModelUnavailable),
        ("StatusCode.DEADLINE_EXCEEDED", "Deadline Exceeded", InferenceTimeout),
        ("500", "Internal server error", InferenceError),
    ],
)
def test_status_maps_to_a_typed_error_naming_the_model(status, message, expected):
    error = from_triton(InferenceServerException(message, status=status), "twin-embed")
    assert type(error) is expected
    assert str(error).startswith("twin-embed: ") and message in str(error)


def test_connection_refused_is_retried_with_backoff_then_reported_unavailable():
    client = InferenceClient("127.0.0.1:1", "http", timeout_s=1, retries=2, backoff_s=0.01)
    attempts = []

    def refuse():
        attempts.append(1)
        raise ConnectionRefusedError("connection refused")

    with pytest.raises(ModelUnavailable):
        client._retrying(refuse, "twin-embed")
    assert len(attempts) == 3


def test_rejected_requests_are_not_retried():
    client = InferenceClient("127.0.0.1:1", "grpc", retries=5, backoff_s=0.01)
    attempts = []

    def reject():
        attempts.append(1)
        raise InferenceServerException("bad shape", status="StatusCode.INVALID_ARGUMENT")

    with pytest.raises(InvalidRequest):
        client._retrying(reject, "twin-embed")
    assert len(attempts) == 1


def test_client_side_validation_needs_no_server():
    client = InferenceClient("127.0.0.1:1", "http", retries=0)
    with pytest.raises(InvalidRequest, match="non-empty list"):
        client.embed("a single string is not a list")
    with pytest.raises(InvalidRequest, match="exactly one of prompt or messages"):
        client.generate()
    with pytest.raises(InferenceError, match="needs protocol='grpc'"):
        next(client.generate_stream("hi"))
    with pytest.raises(ValueError, match="protocol"):
        InferenceClient("127.0.0.1:1", "websocket")
