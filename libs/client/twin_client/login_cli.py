"""`twin login`: check an API key against the gateway and keep it (with the gateway's address) in the config file
that `twin ask` and `twin chat` read, readable by you only.

    twin login [--gateway URL]     # asks for the key without echoing it (or reads one line from stdin)
    twin login --status            # who the stored key is
    twin login --logout            # forget the stored key
"""

from __future__ import annotations

import argparse
import getpass
import sys

from twin_client.config import ClientConfig, config_path, forget_key, read_config, write_config
from twin_client.gateway import GatewayClient, GatewayError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="twin login", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gateway", default=None, help="the gateway's address (default: the local stack's)")
    parser.add_argument("--status", action="store_true", help="show who the stored key is")
    parser.add_argument("--logout", action="store_true", help="forget the stored key")
    args = parser.parse_args(argv)
    if args.logout:
        path = forget_key()
        print(f"forgot the key in {path}" if path else "no key was stored")
        return 0
    if args.status:
        config = ClientConfig.load(args.gateway)
        if not config.api_key:
            print("not signed in: run `twin login` or set TWIN_API_KEY", file=sys.stderr)
            return 1
        with GatewayClient(config.gateway_url, config.api_key) as client:
            try:
                session = client.session()
            except GatewayError as exc:
                print(f"twin login: the key from {config.key_source} was refused: {exc.explain()}", file=sys.stderr)
                return 1
        print(
            f"signed in to {config.gateway_url} as tenant {session['tenant_id']} (key {session['key_id']}, from {config.key_source})"
        )
        return 0

    gateway = (args.gateway or ClientConfig.load(None).gateway_url).rstrip("/")
    if sys.stdin.isatty():
        key = getpass.getpass("API key: ").strip()
    else:
        key = sys.stdin.readline().strip()
    if not key:
        print("twin login: no key given", file=sys.stderr)
        return 2
    with GatewayClient(gateway, key) as client:
        try:
            session = client.session()
        except GatewayError as exc:
            print(f"twin login: the gateway at {gateway} refused the key: {exc.explain()}", file=sys.stderr)
            return 1
    path = write_config(gateway, key, tenant_id=session["tenant_id"], key_id=session["key_id"])
    print(f"signed in to {gateway} as tenant {session['tenant_id']} (key {session['key_id']}); saved to {path}")
    if read_config().get("api_key") and config_path() != path:  # pragma: no cover - defensive
        print(f"note: TWIN_CONFIG points elsewhere ({config_path()})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
