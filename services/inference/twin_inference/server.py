"""The model server process: KServe's V2 REST and gRPC data planes bound to a chosen host, gRPC token
streaming added, and the registry watcher running beside them.

kserve.ModelServer binds 0.0.0.0 / [::] and has no streaming RPC; TwinModelServer keeps its data plane
and model repository and only changes how the two servers are started. Both require the shared service token
(twin_common.service_auth) for everything but health: REST through a middleware, gRPC through an interceptor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from concurrent import futures

import kserve
from grpc import aio
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.model_server import app as kserve_rest_app
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor, LoggingInterceptor
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.rest.server import RESTServer
from twin_common.service_auth import ServiceTokenCheck, ServiceTokenInterceptor, ServiceTokenMiddleware
from twin_common.telemetry.instrumentation import instrument_fastapi_app
from twin_common.telemetry.metrics import grpc_server_metrics_interceptor

from twin_inference.grpc_stream import stream_handler

log = logging.getLogger(__name__)

GRPC_MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# Open without the service token: liveness and readiness (server and models, V1 and V2), metrics, status.
OPEN_REST_PATHS = (
    "/",
    "/metrics",
    "/v1/status",
    "/v2/health/live",
    "/v2/health/ready",
    "/v2/models/[^/]+/ready",
    "/v2/models/[^/]+/versions/[^/]+/ready",
    "/v1/models/[^/:]+",
)
OPEN_GRPC_METHODS = (
    "/inference.GRPCInferenceService/ServerLive",
    "/inference.GRPCInferenceService/ServerReady",
    "/inference.GRPCInferenceService/ModelReady",
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
)


class TwinRESTServer(RESTServer):
    """KServe's REST server plus the service-token middleware and the twin's own routes (e.g. /v1/status)."""

    def __init__(self, *args, token: ServiceTokenCheck, routes: list[tuple[str, Callable]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.token = token
        self.routes = routes or []

    def _add_middlewares(self, app) -> None:
        super()._add_middlewares(app)
        app.add_middleware(ServiceTokenMiddleware, check=self.token, open_paths=OPEN_REST_PATHS)

    def _register_endpoints(self, app) -> None:
        for path, endpoint in self.routes:
            app.add_api_route(path, endpoint, methods=["GET"])
        super()._register_endpoints(app)


class TwinModelServer(kserve.ModelServer):
    def __init__(
        self,
        *,
        host: str,
        http_port: int,
        grpc_port: int,
        background: list[Callable[[], Awaitable[None]]] | None = None,
        max_threads: int = 8,
        token: ServiceTokenCheck | None = None,
        routes: list[tuple[str, Callable]] | None = None,
    ):
        super().__init__(
            http_port=http_port,
            grpc_port=grpc_port,
            workers=1,
            max_threads=max_threads,
            enable_docs_url=False,
            grace_period=2,
        )
        self.host = host
        self.token = token or ServiceTokenCheck.from_settings()
        self.routes = routes or []
        self._background = background or []
        self._grpc: aio.Server | None = None

    def start(self, models: list[kserve.Model]) -> None:
        self._register_and_check_atleast_one_model_is_ready(models)
        for model in models:  # KServe registers only ready ones; the others report not ready until loaded
            if self.registered_models.get_model(model.name) is None:
                self.register_model(model)
        asyncio.run(self._serve_all({m.name: m for m in models}))

    async def _serve_all(self, models: dict[str, kserve.Model]) -> None:
        self.setup_event_loop()
        rest = TwinRESTServer(
            FASTAPI_APP_IMPORT_STRING,
            self.dataplane,
            self.model_repository_extension,
            self.http_port,
            workers=1,
            grace_period=self.grace_period,
            timeout_keep_alive=self.timeout_keep_alive,
            token=self.token,
            routes=self.routes,
        )
        rest.config.host = self.host  # RESTServer hard-codes 0.0.0.0
        instrument_fastapi_app(kserve_rest_app)  # KServe's app: server spans and RED metrics (its /metrics serves them)
        self._rest_server = rest
        self._grpc = aio.server(
            futures.ThreadPoolExecutor(max_workers=self.max_threads),
            interceptors=(
                grpc_server_metrics_interceptor(),
                ServiceTokenInterceptor(self.token, OPEN_GRPC_METHODS),
                LoggingInterceptor(),
                ExceptionToStatusInterceptor(),
            ),
            options=[
                ("grpc.max_send_message_length", GRPC_MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", GRPC_MAX_MESSAGE_BYTES),
            ],
        )
        grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            InferenceServicer(self.dataplane, self.model_repository_extension), self._grpc
        )
        self._grpc.add_generic_rpc_handlers((stream_handler(models),))
        self._grpc.add_insecure_port(f"{self.host}:{self.grpc_port}")
        await self._grpc.start()
        log.info("V2 gRPC on %s:%d, REST on %s:%d", self.host, self.grpc_port, self.host, self.http_port)
        tasks = [asyncio.create_task(rest.start(), name="rest")]
        tasks += [asyncio.create_task(make(), name=f"background-{i}") for i, make in enumerate(self._background)]
        try:
            # the REST server returns when uvicorn receives SIGTERM/SIGINT: then everything stops
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception():
                    log.error("%s stopped: %r", task.get_name(), task.exception())
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await self._grpc.stop(grace=1)
