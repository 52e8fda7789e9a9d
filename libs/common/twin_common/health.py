"""Health endpoints every service exposes: liveness, readiness with named checks, for REST and gRPC."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

import grpc
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

Check = Callable[[], bool | Awaitable[bool]]


class HealthRegistry:
    """Named readiness checks; a service is ready when every check passes."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        self._checks[name] = check

    async def run(self) -> dict[str, bool]:
        from opentelemetry.instrumentation.utils import suppress_instrumentation

        results: dict[str, bool] = {}
        with suppress_instrumentation():  # probes every few seconds would each make a trace of their queries
            for name, check in self._checks.items():
                try:
                    outcome = check()
                    if inspect.isawaitable(outcome):
                        outcome = await asyncio.wait_for(outcome, timeout=5)
                    results[name] = bool(outcome)
                except Exception:  # a failing check means not ready, never a crash of the endpoint
                    results[name] = False
        return results

    def router(self) -> APIRouter:
        router = APIRouter(tags=["health"])

        @router.get("/healthz")
        async def liveness() -> dict[str, str]:
            return {"status": "ok"}

        @router.get("/readyz")
        async def readiness() -> JSONResponse:
            results = await self.run()
            ready = all(results.values())
            return JSONResponse(
                {"status": "ready" if ready else "not ready", "checks": results},
                status_code=200 if ready else 503,
            )

        return router


def add_grpc_health(server: grpc.Server | grpc.aio.Server, services: list[str]) -> health.HealthServicer:
    """Register the standard grpc.health.v1 service, every named service SERVING."""
    servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    for name in ["", *services]:
        servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return servicer
