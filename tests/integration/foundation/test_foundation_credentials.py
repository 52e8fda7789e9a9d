"""A stack created before credentials were generated (PostgreSQL role password `twin`) keeps its data and moves
to the generated password on its next start; a password changed in stack.env reaches a running server."""

from __future__ import annotations

import shutil
import socket

import psycopg
import pytest
from twin_localstack.components import Postgres
from twin_localstack.credentials import ensure_credentials, read_env_file, write_env_file
from twin_localstack.paths import StackPaths


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _can_login(port: int, password: str) -> bool:
    try:
        with psycopg.connect(
            host="127.0.0.1", port=port, user="twin", password=password, dbname="twin", connect_timeout=5
        ) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


@pytest.fixture
def private_postgres(tmp_path, monkeypatch):
    """A PostgreSQL of its own (own stack home, free port), stopped and deleted afterwards."""
    port = _free_port()
    monkeypatch.setenv("TWIN_PG_PORT", str(port))
    monkeypatch.delenv("TWIN_PG_PASSWORD", raising=False)
    paths = StackPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    paths.ensure()
    postgres = Postgres(paths)
    yield postgres, paths, port
    postgres.stop()
    if str(postgres.datadir).startswith("/var/tmp/twin-stack-"):  # run as root: data outside the 0700 tmp dir
        shutil.rmtree(postgres.datadir.parent, ignore_errors=True)


def test_old_default_password_is_migrated_and_data_kept(private_postgres):
    postgres, paths, port = private_postgres
    postgres.start()  # no stack.env yet: created as before this change, password `twin`
    assert _can_login(port, "twin")
    with psycopg.connect(host="127.0.0.1", port=port, user="twin", password="twin", dbname="twin") as conn:
        conn.execute("CREATE TABLE kept (v text)")
        conn.execute("INSERT INTO kept VALUES ('from the old stack')")
    postgres.stop()

    ensure_credentials(paths)  # what `twin-stack up` does first
    generated = read_env_file(paths.env_file)["TWIN_PG_PASSWORD"]
    postgres.start()
    assert _can_login(port, generated)
    assert not _can_login(port, "twin")
    with psycopg.connect(host="127.0.0.1", port=port, user="twin", password=generated, dbname="twin") as conn:
        assert conn.execute("SELECT v FROM kept").fetchall() == [("from the old stack",)]
    assert postgres.healthy()


def test_running_server_takes_a_password_changed_in_stack_env(private_postgres):
    postgres, paths, port = private_postgres
    ensure_credentials(paths)
    postgres.start()
    first = read_env_file(paths.env_file)["TWIN_PG_PASSWORD"]
    assert _can_login(port, first)
    pid = postgres.pid()
    write_env_file(paths.env_file, {**read_env_file(paths.env_file), "TWIN_PG_PASSWORD": "second-password-0123456789"})
    postgres.start()  # already running: no restart, the role's password is set again
    assert postgres.pid() == pid
    assert _can_login(port, "second-password-0123456789") and not _can_login(port, first)
