"""Generated credentials: drawn once into stack.env (0600), kept afterwards, read by every settings object."""

from __future__ import annotations

import stat

from twin_common.settings import InternalAuthSettings, PostgresSettings
from twin_localstack.credentials import GENERATED, ensure_credentials, read_env_file, write_env_file
from twin_localstack.paths import StackPaths


def _paths(tmp_path) -> StackPaths:
    return StackPaths(home=tmp_path / "home", cache=tmp_path / "cache")


def test_first_start_draws_every_secret_into_a_private_file(tmp_path):
    paths = _paths(tmp_path)
    drawn = ensure_credentials(paths)
    assert sorted(drawn) == sorted(GENERATED)
    assert stat.S_IMODE(paths.env_file.stat().st_mode) == 0o600
    values = read_env_file(paths.env_file)
    assert set(values) == set(GENERATED)
    assert len(set(values.values())) == len(GENERATED)  # distinct
    assert all(len(v) >= 40 and v != "twin" for v in values.values())


def test_later_starts_keep_the_secrets_and_add_only_missing_ones(tmp_path):
    paths = _paths(tmp_path)
    write_env_file(paths.env_file, {"TWIN_PG_PASSWORD": "kept-from-an-earlier-stack", "TWIN_OTHER": "x"})
    paths.env_file.chmod(0o644)
    drawn = ensure_credentials(paths)
    assert "TWIN_PG_PASSWORD" not in drawn and "TWIN_SERVICE_TOKEN" in drawn
    values = read_env_file(paths.env_file)
    assert values["TWIN_PG_PASSWORD"] == "kept-from-an-earlier-stack" and values["TWIN_OTHER"] == "x"
    assert stat.S_IMODE(paths.env_file.stat().st_mode) == 0o600
    assert ensure_credentials(paths) == [] and read_env_file(paths.env_file) == values


def test_settings_objects_read_the_file_and_the_environment_wins(tmp_path, monkeypatch):
    paths = _paths(tmp_path)
    monkeypatch.delenv("TWIN_PG_PASSWORD", raising=False)
    monkeypatch.delenv("TWIN_SERVICE_TOKEN", raising=False)
    ensure_credentials(paths)
    values = read_env_file(paths.env_file)
    assert paths.settings(PostgresSettings).password == values["TWIN_PG_PASSWORD"]
    token = paths.settings(InternalAuthSettings).service_token
    assert token is not None and token.get_secret_value() == values["TWIN_SERVICE_TOKEN"]
    monkeypatch.setenv("TWIN_PG_PASSWORD", "from-the-environment")
    assert paths.settings(PostgresSettings).password == "from-the-environment"
