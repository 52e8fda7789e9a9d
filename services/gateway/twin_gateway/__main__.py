"""Entry point of the gateway service: `twin-gateway` or `python -m twin_gateway`.

REST (+ OpenAI-compatible routes) on TWIN_HTTP_HOST:TWIN_HTTP_PORT (127.0.0.1:8100), gRPC on TWIN_GRPC_PORT (50051).
"""

import asyncio

from twin_common.service import bootstrap

from twin_gateway.server import run
from twin_gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    bootstrap(settings)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
