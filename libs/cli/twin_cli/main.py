"""`twin <subcommand> ...`: dispatches to the module that owns the subcommand.

Each owner module exposes `main(argv: list[str]) -> int`; it is imported only when its subcommand runs,
so `twin stack status` does not load torch.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "stack": ("twin_localstack.cli", "start, stop and check the local stack"),
}


def register(name: str, module: str, help_text: str) -> None:
    SUBCOMMANDS[name] = (module, help_text)


def _usage() -> str:
    lines = ["usage: twin <subcommand> [args...]", "", "subcommands:"]
    lines += [f"  {name:<10} {help_text}" for name, (_, help_text) in sorted(SUBCOMMANDS.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"twin: unknown subcommand {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
