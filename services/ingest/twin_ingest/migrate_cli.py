"""`twin migrate [--dsn DSN]`: apply the source schema migrations (idempotent)."""

from __future__ import annotations

import argparse

from twin_common.settings import PostgresSettings

from twin_ingest.db import migrate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="twin migrate", description=__doc__)
    parser.add_argument("--dsn", default=None, help="PostgreSQL DSN (default: TWIN_PG_* settings)")
    args = parser.parse_args(argv)
    applied = migrate(args.dsn or PostgresSettings().dsn())
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none (up to date)'}")
    return 0
