"""API keys for tests that talk to the local stack's own gateway (`make up`): created in the stack's PostgreSQL with
its generated pepper, as `twin keys create` does."""

from __future__ import annotations

from twin_common.settings import PostgresSettings


def make_key(tenant: str, **options) -> str:
    """The clear key of a new key of `tenant` (options: scopes, routes, requests_per_minute, ...)."""
    from twin_gateway.keys.store import create_key
    from twin_gateway.settings import KeySettings

    _, clear = create_key(PostgresSettings().dsn(), KeySettings().pepper.get_secret_value().encode(), tenant, **options)
    return clear
