"""`twin-stack up|down|status|restart|kill|install|logs`: the local stack from the command line."""

from __future__ import annotations

import argparse
import logging
import sys

from twin_localstack.stack import Stack


def _groups(args: argparse.Namespace) -> list[str] | None:
    if getattr(args, "servers", False):
        return ["servers"]
    if getattr(args, "services", False):
        return ["services"]
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="twin-stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for command, help_text in [
        ("up", "install what is missing, then start the components (all by default) and what they need"),
        ("down", "stop the components (all by default), dependents first"),
        ("restart", "stop and start the named components"),
        ("kill", "SIGKILL the named components (failure tests)"),
    ]:
        cmd = sub.add_parser(command, help=help_text)
        cmd.add_argument("names", nargs="*")
        if command in ("up", "down"):
            only = cmd.add_mutually_exclusive_group()
            only.add_argument("--servers", action="store_true", help="only the backing servers")
            only.add_argument("--services", action="store_true", help="only the platform's services")
    status = sub.add_parser("status", help="show each server's and service's health; exit 1 if any is unhealthy")
    status.add_argument("--servers", action="store_true", help="only the backing servers")
    sub.add_parser("install", help="install Debian packages and resolve jars, start nothing")
    logs = sub.add_parser("logs", help="print the end of a component's log")
    logs.add_argument("name")
    logs.add_argument("-n", type=int, default=40)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    stack = Stack()
    if args.command == "up":
        try:
            stack.up(args.names or None, _groups(args))
        except RuntimeError as exc:  # a start failure: say what failed, then show where the stack stands
            print(f"twin-stack up failed: {exc}", file=sys.stderr)
            _print_status(stack, _groups(args))
            return 1
        return _print_status(stack, _groups(args))
    if args.command == "down":
        stack.down(args.names or None, _groups(args))
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
    return _print_status(stack, _groups(args))


def _print_status(stack: Stack, groups: list[str] | None = None) -> int:
    rows = stack.status(groups)
    print(f"{'name':<10} {'process':<10} {'pid':>8}  {'state':<9} endpoint")
    for row in rows:
        if row.healthy:
            state = "healthy"
        elif row.process == "migrate":
            state = "pending"
        else:
            state = "starting" if row.running else "down"
        endpoint = row.endpoint
        if row.note:
            state, endpoint = row.note.split(":", 1)[0], row.note
        print(f"{row.name:<10} {row.process:<10} {row.pid or '-':>8}  {state:<9} {endpoint}")
    target = stack.telemetry_target()
    print(f"{'telemetry':<10} {'':<10} {'':>8}  {'file' if 'file' in target else 'otlp':<9} {target}")
    print(f"state under {stack.paths.home}; generated credentials in {stack.paths.env_file}")
    return 0 if all(r.healthy for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
