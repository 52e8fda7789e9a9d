"""A request-body size limit for HTTP services: 413 before a byte too many is read.

A declared Content-Length over the limit is refused at once; a body sent without one (chunked) is counted as it
arrives and refused as soon as it passes the limit, so an endpoint never holds more than `max_bytes` of it.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Scope


class BodyTooLarge(HTTPException):
    """Raised while the body is read; an HTTPException, so frameworks that wrap body errors (FastAPI turns them
    into 400) let it through as the 413 it is."""

    def __init__(self, max_bytes: int):
        super().__init__(413, f"request body is larger than the limit of {max_bytes} bytes")


def default_refusal(scope: Scope, max_bytes: int) -> ASGIApp:
    return JSONResponse({"detail": f"request body is larger than the limit of {max_bytes} bytes"}, status_code=413)


class BodySizeLimitMiddleware:
    """`refusal(scope, max_bytes)` makes the 413 response, so a service answers in its own error format."""

    def __init__(self, app, max_bytes: int, refusal: Callable[[Scope, int], ASGIApp] = default_refusal):
        self.app = app
        self.max_bytes = max_bytes
        self.refusal = refusal

    def _refusal(self, scope: Scope) -> ASGIApp:
        return self.refusal(scope, self.max_bytes)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope.get("headers", []) if k.lower() == b"content-length"), None)
        if declared is not None:
            try:
                too_large = int(declared) > self.max_bytes
            except ValueError:
                too_large = False  # the server rejects a malformed header itself
            if too_large:
                await self._refusal(scope)(scope, receive, send)
                return
        received = 0
        started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refusal(scope)(scope, receive, send)
