"""Schema migrations of the source database: numbered SQL files applied once each, in order.

`migrate(dsn)` is safe to call from several processes at once (a PostgreSQL advisory lock serialises
them) and as often as you like (applied versions are recorded in `schema_migrations`).
"""

from __future__ import annotations

from importlib import resources

import psycopg

# pg_advisory_lock key: any constant bigint unique to this purpose ("twin" "migr" in ASCII).
MIGRATION_LOCK_KEY = 0x7477696E6D696772

MIGRATIONS_PACKAGE = "twin_ingest.migrations"


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) for every migrations/*.sql, ordered by file name; the version is the file stem."""
    folder = resources.files(MIGRATIONS_PACKAGE)
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name.removesuffix(".sql"), f.read_text(encoding="utf-8")) for f in files]


def migrate(dsn: str) -> list[str]:
    """Apply the migrations not yet applied to the database at `dsn`; return the versions applied now."""
    applied_now: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, sql in migration_files():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                applied_now.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return applied_now


def applied_versions(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
