"""Errors of the inference client, one per thing a caller may want to handle differently."""

from __future__ import annotations


class InferenceError(RuntimeError):
    """Any failure of an inference call; `status` is the HTTP status or gRPC code name when known."""

    def __init__(self, message: str, *, model: str | None = None, status: str | None = None):
        super().__init__(message)
        self.model = model
        self.status = status


class InvalidRequest(InferenceError):
    """The server rejected the request (HTTP 400 / INVALID_ARGUMENT): fix the input, do not retry."""


class Unauthenticated(InferenceError):
    """The server refused the call's service token (HTTP 401 / UNAUTHENTICATED): configure TWIN_SERVICE_TOKEN."""


class ModelNotFound(InferenceError):
    """The server does not serve this model (HTTP 404 / NOT_FOUND)."""


class ModelUnavailable(InferenceError):
    """The server or the model is not ready or not reachable (HTTP 503 / UNAVAILABLE); retried."""


class InferenceTimeout(InferenceError):
    """The call took longer than the client's timeout (DEADLINE_EXCEEDED); retried."""


RETRYABLE = (ModelUnavailable, InferenceTimeout)


def from_triton(exc: Exception, model: str | None) -> InferenceError:
    """Map a tritonclient InferenceServerException (or a transport error) to one of the errors above."""
    message = exc.message() if hasattr(exc, "message") and callable(exc.message) else str(exc)
    status = exc.status() if hasattr(exc, "status") and callable(exc.status) else None
    status = str(status) if status is not None else None
    text = f"{model or 'inference'}: {message}"
    code = (status or "").upper()
    lowered = (message or "").lower()
    if code in {"400", "STATUSCODE.INVALID_ARGUMENT", "INVALID_ARGUMENT"} or "invalidinput" in lowered:
        return InvalidRequest(text, model=model, status=status)
    if code in {"401", "STATUSCODE.UNAUTHENTICATED", "UNAUTHENTICATED"}:
        return Unauthenticated(text, model=model, status=status)
    if code in {"404", "STATUSCODE.NOT_FOUND", "NOT_FOUND"} or "does not exist" in lowered:
        return ModelNotFound(text, model=model, status=status)
    if code in {"STATUSCODE.DEADLINE_EXCEEDED", "DEADLINE_EXCEEDED"} or "timed out" in lowered or "timeout" in lowered:
        return InferenceTimeout(text, model=model, status=status)
    if code in {"503", "502", "STATUSCODE.UNAVAILABLE", "UNAVAILABLE"} or status is None or "not ready" in lowered:
        return ModelUnavailable(text, model=model, status=status)
    return InferenceError(text, model=model, status=status)
