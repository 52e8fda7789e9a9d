"""Helpers of the ingest integration tests: a private migrated database and a local HTTP server."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import psycopg
from twin_common.settings import PostgresSettings
from twin_ingest.db import migrate


@contextlib.contextmanager
def private_database() -> Iterator[str]:
    """A database twin_test_<uuid> with the source schema; dropped on exit. Yields its DSN."""
    pg = PostgresSettings()
    name = f"twin_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        migrate(pg.dsn(name))
        yield pg.dsn(name)
    finally:
        with psycopg.connect(pg.dsn("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".md": "text/markdown",
        ".txt": "text/plain",
        ".html": "text/html; charset=utf-8",
        ".bin": "application/octet-stream",
    }

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serve_folder(root: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 (a free port) serving `root`; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
