"""`twin keys create|list|revoke`: the gateway's API keys (PostgreSQL from TWIN_PG_*, pepper from TWIN_KEYS_PEPPER).

    twin keys create --tenant acme [--scopes ask,search] [--routes twin] [--name ci] [--json]
    twin keys list [--tenant acme] [--json]
    twin keys revoke 0123456789ab

The clear key is printed once, by `create`; the database keeps only its HMAC.
"""

from __future__ import annotations

import argparse
import json
import sys

from twin_common.settings import PostgresSettings

from twin_gateway.keys.store import ALL_SCOPES, DEFAULT_SCOPES, create_key, list_keys, revoke_key
from twin_gateway.settings import KeySettings


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twin keys", description="Create, list and revoke gateway API keys.")
    parser.add_argument("--dsn", default=None, help="PostgreSQL DSN (default: TWIN_PG_* settings)")
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create", help="create a key (the clear key is shown once)")
    create.add_argument("--tenant", required=True)
    create.add_argument(
        "--scopes", type=_csv, default=DEFAULT_SCOPES, help=f"comma-separated, of {','.join(ALL_SCOPES)}"
    )
    create.add_argument("--routes", type=_csv, default=(), help="comma-separated model routes (default: every route)")
    create.add_argument("--name", default="", help="a label for people")
    create.add_argument("--requests-per-minute", type=int, default=None)
    create.add_argument("--tokens-per-minute", type=int, default=None)
    create.add_argument("--max-concurrent", type=int, default=None)
    create.add_argument("--json", action="store_true", help="print JSON (with the key under 'key')")

    listing = commands.add_parser("list", help="list keys (never the key itself)")
    listing.add_argument("--tenant", default=None)
    listing.add_argument("--active", action="store_true", help="leave revoked keys out")
    listing.add_argument("--json", action="store_true")

    revoke = commands.add_parser("revoke", help="revoke a key by id (refused within 1 s by every gateway)")
    revoke.add_argument("key_id")
    revoke.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    dsn = args.dsn or PostgresSettings().dsn()
    if args.command == "create":
        for name in ("requests_per_minute", "tokens_per_minute", "max_concurrent"):
            value = getattr(args, name)
            if value is not None and value < 1:
                print(f"twin keys: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
                return 2
        try:
            record, clear = create_key(
                dsn,
                KeySettings().pepper.get_secret_value().encode(),
                args.tenant,
                scopes=args.scopes,
                routes=args.routes,
                name=args.name,
                requests_per_minute=args.requests_per_minute,
                tokens_per_minute=args.tokens_per_minute,
                max_concurrent=args.max_concurrent,
            )
        except ValueError as exc:
            print(f"twin keys: {exc}", file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps({**record.as_dict(), "key": clear}))
        else:
            print(f"key {record.id} for tenant {record.tenant_id}, scopes {','.join(record.scopes)}")
            print(f"  {clear}")
            print("  (shown once: store it now; the gateway keeps only its hash)")
        return 0
    if args.command == "list":
        records = list_keys(dsn, args.tenant, include_revoked=not args.active)
        if args.json:
            print(json.dumps([r.as_dict() for r in records]))
        else:
            print(f"{'id':<13} {'tenant':<20} {'scopes':<30} {'routes':<12} {'created':<20} revoked")
            for r in records:
                print(
                    f"{r.id:<13} {r.tenant_id:<20} {','.join(r.scopes):<30} {','.join(r.routes) or '*':<12} "
                    f"{r.created_at:%Y-%m-%d %H:%M:%S}  {r.revoked_at:%Y-%m-%d %H:%M:%S}"
                    if r.revoked_at
                    else f"{r.id:<13} {r.tenant_id:<20} {','.join(r.scopes):<30} {','.join(r.routes) or '*':<12} "
                    f"{r.created_at:%Y-%m-%d %H:%M:%S}  -"
                )
        return 0
    record = revoke_key(dsn, args.key_id)
    if record is None:
        print(f"twin keys: no key {args.key_id}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(record.as_dict()))
    else:
        print(f"revoked {record.id} (tenant {record.tenant_id}) at {record.revoked_at:%Y-%m-%d %H:%M:%S%z}")
    return 0
