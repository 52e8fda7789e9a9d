"""`twin <subcommand> ...`: dispatches to the module that owns the subcommand.

Packages declare their subcommands as entry points in their pyproject:

    [project.entry-points."twin.commands"]
    ingest = "twin_ingest.cli"

The module must expose `main(argv: list[str]) -> int` and is imported only when its subcommand runs,
so `twin stack status` does not load torch.
"""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import entry_points

GROUP = "twin.commands"


def subcommands() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def _usage(commands: dict[str, str]) -> str:
    lines = ["usage: twin <subcommand> [args...]", "", "subcommands:"]
    lines += [f"  {name:<10} ({module})" for name, module in sorted(commands.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = subcommands()
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(commands))
        return 0
    name, rest = argv[0], argv[1:]
    if name not in commands:
        print(f"twin: unknown subcommand {name!r}\n\n{_usage(commands)}", file=sys.stderr)
        return 2
    module = importlib.import_module(commands[name])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
