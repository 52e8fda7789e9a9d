"""The gateway's errors: one exception type with a code, translated by each surface (gRPC status, HTTP status
and body, OpenAI error shape) from one table, so the same failure reads the same everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import grpc


class Code(StrEnum):
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    NOT_FOUND = "NOT_FOUND"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"  # quota: 429 with Retry-After
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"  # 413 on REST; RESOURCE_EXHAUSTED on gRPC
    FAILED_PRECONDITION = "FAILED_PRECONDITION"  # a guardrail blocked the request: 422
    UNAVAILABLE = "UNAVAILABLE"  # a dependency is down (every model endpoint, the key store...)
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    CANCELLED = "CANCELLED"
    INTERNAL = "INTERNAL"


@dataclass(frozen=True)
class _Mapping:
    http: int
    grpc: grpc.StatusCode
    openai_type: str


MAPPING: dict[Code, _Mapping] = {
    Code.INVALID_ARGUMENT: _Mapping(400, grpc.StatusCode.INVALID_ARGUMENT, "invalid_request_error"),
    Code.UNAUTHENTICATED: _Mapping(401, grpc.StatusCode.UNAUTHENTICATED, "authentication_error"),
    Code.PERMISSION_DENIED: _Mapping(403, grpc.StatusCode.PERMISSION_DENIED, "permission_error"),
    Code.NOT_FOUND: _Mapping(404, grpc.StatusCode.NOT_FOUND, "not_found_error"),
    Code.RESOURCE_EXHAUSTED: _Mapping(429, grpc.StatusCode.RESOURCE_EXHAUSTED, "rate_limit_error"),
    Code.PAYLOAD_TOO_LARGE: _Mapping(413, grpc.StatusCode.RESOURCE_EXHAUSTED, "invalid_request_error"),
    Code.FAILED_PRECONDITION: _Mapping(422, grpc.StatusCode.FAILED_PRECONDITION, "invalid_request_error"),
    Code.UNAVAILABLE: _Mapping(503, grpc.StatusCode.UNAVAILABLE, "service_unavailable_error"),
    Code.DEADLINE_EXCEEDED: _Mapping(504, grpc.StatusCode.DEADLINE_EXCEEDED, "timeout_error"),
    Code.CANCELLED: _Mapping(499, grpc.StatusCode.CANCELLED, "cancelled"),
    Code.INTERNAL: _Mapping(500, grpc.StatusCode.INTERNAL, "api_error"),
}


class GatewayError(Exception):
    """A failure with a code the caller can act on; `field` names the offending input when there is one."""

    def __init__(
        self,
        code: Code,
        message: str,
        *,
        field: str | None = None,
        retry_after_s: float | None = None,
        reason: str | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.retry_after_s = retry_after_s
        self.reason = reason  # a short machine-readable reason, e.g. "key_revoked", "requests_per_minute"

    @property
    def http_status(self) -> int:
        return MAPPING[self.code].http

    @property
    def grpc_status(self) -> grpc.StatusCode:
        return MAPPING[self.code].grpc

    def body(self) -> dict:
        """The REST error body: {"error": {"code", "message", "field"?, "reason"?}}."""
        error: dict = {"code": self.code.value, "message": self.message}
        if self.field:
            error["field"] = self.field
        if self.reason:
            error["reason"] = self.reason
        return {"error": error}

    def openai_body(self) -> dict:
        """The OpenAI error shape, so the official SDK raises the matching exception class."""
        return {
            "error": {
                "message": self.message,
                "type": MAPPING[self.code].openai_type,
                "param": self.field,
                "code": self.reason or self.code.value.lower(),
            }
        }

    def headers(self) -> dict[str, str]:
        if self.retry_after_s is None:
            return {}
        return {"Retry-After": str(max(1, int(-(-self.retry_after_s // 1))))}


def invalid(field: str, message: str) -> GatewayError:
    return GatewayError(Code.INVALID_ARGUMENT, f"{field}: {message}", field=field)
