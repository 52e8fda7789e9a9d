"""`twin node [SERVICE ...]` (or `twin-node`): run several services in one process, sharing one vector store.

Without names it runs the embedder and the gateway, the two services that touch the vector store.
Each service reads its own settings object (TWIN_* variables, like when it runs alone), so each keeps its
own port; do not set TWIN_HTTP_PORT / TWIN_GRPC_PORT for a node (every service would take it).
"""

from __future__ import annotations

import argparse
import asyncio

from twin_common.service import bootstrap

from twin_node.catalogue import CATALOGUE, DEFAULT_SERVICES, NodeError, lookup
from twin_node.node import run_node


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="twin node", description=__doc__)
    parser.add_argument("services", nargs="*", help=f"default: {' '.join(DEFAULT_SERVICES)}")
    parser.add_argument("--list", action="store_true", help="list the services a node can run")
    args = parser.parse_args(argv)
    if args.list:
        for service in CATALOGUE.values():
            run = "run()" if service.run_function() else "no run()"
            store = ", shares the vector store" if service.takes_vector_store() else ""
            print(f"{service.name:<10} {service.module} ({run}{store})")
        return 0
    try:
        services = lookup(args.services or list(DEFAULT_SERVICES))
    except NodeError as exc:
        parser.error(str(exc))
    settings = {s.name: s.load_settings() for s in services}
    first = settings[services[0].name]
    # one process, one logging and tracing set-up; log records keep each service's logger name
    bootstrap(first.model_copy(update={"service_name": "twin-node"}))
    return asyncio.run(run_node(services, settings))
