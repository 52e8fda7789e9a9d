"""The gateway from Python and the terminal.

    from twin_client import GatewayClient
    with GatewayClient.from_config() as twin:
        for event in twin.ask_stream("What did I write about hives?"):
            ...

Commands: `twin login` (stores the gateway address and an API key in a config file), `twin ask "question"`,
`twin chat` (see docs/webapp.md).
"""

from twin_client.config import ClientConfig
from twin_client.gateway import Answer, GatewayClient, GatewayError

__all__ = ["Answer", "ClientConfig", "GatewayClient", "GatewayError"]
