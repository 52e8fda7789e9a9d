"""The gRPC surface: twin.v1.Gateway, plus grpc.health.v1 and server reflection.

The handlers are registered by hand rather than with the generated `add_GatewayServicer_to_server`, so that a
message that does not parse (bad wire format, invalid UTF-8 in a string) is answered INVALID_ARGUMENT by the
method instead of INTERNAL by the framework.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from twin.v1 import twin_pb2 as pb
from twin_common.health import HealthRegistry
from twin_common.telemetry.metrics import grpc_server_metrics_interceptor

from twin_gateway.errors import GatewayError
from twin_gateway.pipeline.context import Surface
from twin_gateway.service import GatewayRuntime
from twin_gateway.surfaces import translate

log = logging.getLogger(__name__)

SERVICE = "twin.v1.Gateway"
GRPC_SURFACE = Surface.GRPC


@dataclass(frozen=True)
class Malformed:
    message_type: str
    error: str


def _parser(message_class):
    def parse(data: bytes):
        try:
            return message_class.FromString(data)
        except Exception as exc:  # noqa: BLE001 - a bad message is the caller's error, answered as such
            return Malformed(message_class.DESCRIPTOR.full_name, str(exc) or type(exc).__name__)

    return parse


def _credentials(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else value
    return None


async def _abort(context: grpc.aio.ServicerContext, error: GatewayError):
    if error.retry_after_s is not None:
        context.set_trailing_metadata((("retry-after", error.headers()["Retry-After"]),))
    await context.abort(error.grpc_status, error.message)


async def _check(request, context) -> None:
    if isinstance(request, Malformed):
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT, f"malformed {request.message_type} message: {request.error}"
        )


class GatewayServicer:
    def __init__(self, gateway: GatewayRuntime):
        self.gateway = gateway
        self.health = gateway.dependencies
        self.limits = gateway.settings.limits

    async def _unary(self, request, context, build, respond):
        await _check(request, context)
        try:
            internal = build(request)
            ctx = self.gateway.context(internal, _credentials(context))
            await self.gateway.call(ctx)
            return respond(ctx)
        except GatewayError as error:
            await _abort(context, error)

    async def Ask(self, request, context):  # noqa: N802 - gRPC method names
        return await self._unary(
            request,
            context,
            lambda m: translate.ask(m, GRPC_SURFACE, self.limits, stream=False),
            translate.ask_response,
        )

    async def AskStream(self, request, context):  # noqa: N802
        await _check(request, context)
        try:
            ctx = self.gateway.context(
                translate.ask(request, GRPC_SURFACE, self.limits, stream=True), _credentials(context)
            )
            async for text in self.gateway.stream(ctx):
                yield translate.delta_chunk(ctx, text)
            yield translate.final_chunk(ctx)
        except GatewayError as error:
            await _abort(context, error)

    async def Search(self, request, context):  # noqa: N802
        return await self._unary(
            request, context, lambda m: translate.search(m, GRPC_SURFACE, self.limits), translate.search_response
        )

    async def Ingest(self, request, context):  # noqa: N802
        return await self._unary(
            request, context, lambda m: translate.ingest(m, GRPC_SURFACE, self.limits), translate.ingest_response
        )

    async def ListDocuments(self, request, context):  # noqa: N802
        return await self._unary(
            request,
            context,
            lambda m: translate.list_documents(m, GRPC_SURFACE),
            translate.list_documents_response,
        )

    async def DeleteDocument(self, request, context):  # noqa: N802
        return await self._unary(
            request,
            context,
            lambda m: translate.delete_document(m, GRPC_SURFACE),
            lambda ctx: pb.DeleteDocumentResponse(),
        )

    async def Feedback(self, request, context):  # noqa: N802
        return await self._unary(
            request,
            context,
            lambda m: translate.feedback(m, GRPC_SURFACE, self.limits),
            lambda ctx: pb.FeedbackResponse(),
        )

    async def Health(self, request, context):  # noqa: N802
        await _check(request, context)
        results = await self.health.run()
        ready = all(results.values())
        status = pb.HealthResponse.STATUS_SERVING if ready else pb.HealthResponse.STATUS_NOT_SERVING
        return pb.HealthResponse(status=status, dependencies=results)


_METHODS = {
    "Ask": (pb.AskRequest, pb.AskResponse, False),
    "AskStream": (pb.AskRequest, pb.AskStreamChunk, True),
    "Search": (pb.SearchRequest, pb.SearchResponse, False),
    "Ingest": (pb.IngestRequest, pb.IngestResponse, False),
    "ListDocuments": (pb.ListDocumentsRequest, pb.ListDocumentsResponse, False),
    "DeleteDocument": (pb.DeleteDocumentRequest, pb.DeleteDocumentResponse, False),
    "Feedback": (pb.FeedbackRequest, pb.FeedbackResponse, False),
    "Health": (pb.HealthRequest, pb.HealthResponse, False),
}


def gateway_handler(servicer: GatewayServicer) -> grpc.GenericRpcHandler:
    handlers = {}
    for name, (request_class, response_class, streaming) in _METHODS.items():
        factory = grpc.unary_stream_rpc_method_handler if streaming else grpc.unary_unary_rpc_method_handler
        handlers[name] = factory(
            getattr(servicer, name),
            request_deserializer=_parser(request_class),
            response_serializer=response_class.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


def build_grpc_server(gateway: GatewayRuntime, address: str, max_message_bytes: int):
    """The gRPC server, not started: twin.v1.Gateway, grpc.health.v1 (follows readiness) and reflection."""
    server = grpc.aio.server(
        interceptors=(grpc_server_metrics_interceptor(),),  # the RED metrics of every RPC (twin_common.telemetry)
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ],
    )
    server.add_generic_rpc_handlers((gateway_handler(GatewayServicer(gateway)),))
    health_servicer = health.aio.HealthServicer()  # NOT_SERVING until follow_readiness says otherwise
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port(address)
    return server, health_servicer, port


async def follow_readiness(health_servicer, health: HealthRegistry, interval_s: float = 5.0) -> None:
    """Keep grpc.health.v1 in step with the readiness checks (probes of the chart use it)."""
    while True:
        try:
            ready = all((await health.run()).values())
        except Exception:  # noqa: BLE001
            ready = False
        status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE):
            await health_servicer.set(name, status)
        await asyncio.sleep(interval_s)
