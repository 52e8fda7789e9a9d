"""`twin cdc register|status|restart|delete|config`: the Debezium connector on Kafka Connect.

`twin cdc embedded ...` runs the light local mode instead (the Debezium engine in-process, see
twin_cdc.embedded); `twin cdc embedded --help` lists its options.

Names default to the TWIN_* settings (connector twin-documents, topic prefix twin.cdc, slot and
publication twin_cdc); each can be given on the command line.
"""

from __future__ import annotations

import argparse
import json
import sys

from twin_cdc import connector
from twin_cdc.settings import CdcSettings


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["embedded"]:
        from twin_cdc import embedded

        return embedded.main(argv[1:])
    settings = CdcSettings()
    parser = argparse.ArgumentParser(
        prog="twin cdc", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["register", "status", "restart", "delete", "config"])
    parser.add_argument("--connect-url", default=settings.connect.url)
    parser.add_argument("--name", default=settings.connector_name)
    parser.add_argument("--database", default=settings.postgres.database)
    parser.add_argument("--topic-prefix", default=settings.topic_prefix)
    parser.add_argument("--slot", default=settings.slot_name)
    parser.add_argument("--publication", default=settings.publication_name)
    parser.add_argument("--wait", type=float, default=60.0, help="register: seconds to wait for RUNNING (0: no wait)")
    args = parser.parse_args(argv)
    config = connector.connector_config(
        database=args.database,
        pg=settings.postgres,
        topic_prefix=args.topic_prefix,
        slot_name=args.slot,
        publication_name=args.publication,
        poll_interval_ms=settings.poll_interval_ms,
    )
    try:
        if args.action == "config":
            print(json.dumps({**config, "database.password": "***"}, indent=2))
        elif args.action == "register":
            result = connector.register(args.connect_url, args.name, config)
            print(f"connector {args.name}: {result.action}")
            if args.wait > 0:
                connector.wait_running(args.connect_url, args.name, args.wait)
                print(f"connector {args.name}: RUNNING")
        elif args.action == "status":
            current = connector.status(args.connect_url, args.name)
            if current is None:
                print(f"connector {args.name}: not registered")
                return 1
            print(f"connector {args.name}: {current.connector_state}, tasks {current.task_states}")
            for trace in current.traces:
                print(trace.splitlines()[0])
            return 0 if current.running else 1
        elif args.action == "restart":
            restarted = connector.restart_failed(args.connect_url, args.name)
            print(f"connector {args.name}: {'restart requested' if restarted else 'nothing failed'}")
        elif args.action == "delete":
            print(f"connector {args.name}: {'deleted' if connector.delete(args.connect_url, args.name) else 'absent'}")
    except connector.ConnectError as exc:
        print(f"twin cdc: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
