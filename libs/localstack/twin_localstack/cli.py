"""`twin-stack up|down|status|restart|kill|install|logs`: the local stack from the command line."""

from __future__ import annotations

import argparse
import logging
import sys

from twin_localstack.stack import Stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="twin-stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for command, help_text in [
        ("up", "install what is missing, then start the components (all by default)"),
        ("down", "stop the components (all by default)"),
        ("restart", "stop and start the named components"),
        ("kill", "SIGKILL the named components (failure tests)"),
    ]:
        cmd = sub.add_parser(command, help=help_text)
        cmd.add_argument("names", nargs="*")
    sub.add_parser("status", help="show each component's health; exit 1 if any is unhealthy")
    sub.add_parser("install", help="install Debian packages and resolve jars, start nothing")
    logs = sub.add_parser("logs", help="print the end of a component's log")
    logs.add_argument("name")
    logs.add_argument("-n", type=int, default=40)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    stack = Stack()
    if args.command == "up":
        stack.up(args.names or None)
        return _print_status(stack)
    if args.command == "down":
        stack.down(args.names or None)
        return 0
    if args.command == "restart":
        for name in args.names:
            stack.restart(name)
        return 0
    if args.command == "kill":
        for name in args.names:
            stack.kill(name)
        return 0
    if args.command == "install":
        stack.install()
        return 0
    if args.command == "logs":
        logfile = stack.component(args.name).logfile
        lines = logfile.read_text(errors="replace").splitlines() if logfile.exists() else []
        print("\n".join(lines[-args.n :]))
        return 0
    return _print_status(stack)


def _print_status(stack: Stack) -> int:
    rows = stack.status()
    print(f"{'component':<10} {'pid':>8}  {'state':<9} endpoint")
    for row in rows:
        state = "healthy" if row.healthy else ("starting" if row.running else "down")
        if row.note:
            state, endpoint = row.note.split(":", 1)[0], row.note
        else:
            endpoint = row.endpoint
        print(f"{row.name:<10} {row.pid or '-':>8}  {state:<9} {endpoint}")
    target = stack.telemetry_target()
    print(f"{'telemetry':<10} {'':>8}  {'file' if 'file' in target else 'otlp':<9} {target}")
    print(f"state under {stack.paths.home}")
    return 0 if all(r.healthy for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
