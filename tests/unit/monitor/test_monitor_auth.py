"""Who may read which reports: a tenant key sees its tenant; the service token sees all; anything else is refused."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from twin_common.settings import SERVICE_TOKEN_HEADER, InternalAuthSettings
from twin_monitor.auth import Authenticator, AuthError, Principal, StaticKeyVerifier, static_keys_env


@pytest.fixture
def authenticator():
    import json

    keys = json.loads(static_keys_env({"key-a": "tenant-a", "key-b": "tenant-b"}))
    assert "key-a" not in json.dumps(keys)  # only digests are configured
    return Authenticator(StaticKeyVerifier(keys), InternalAuthSettings(service_token=SecretStr("svc")))


async def test_a_tenant_key_is_that_tenant(authenticator):
    principal = await authenticator.principal({"authorization": "Bearer key-a"})
    assert principal.tenant_id == "tenant-a" and not principal.admin
    assert principal.may_read("tenant-a") and not principal.may_read("tenant-b")


async def test_the_service_token_is_admin(authenticator):
    for headers in ({SERVICE_TOKEN_HEADER: "svc"}, {"authorization": "Bearer svc"}):
        principal = await authenticator.principal(headers)
        assert principal.admin and principal.may_read("anyone")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer "},
        {"authorization": "Token key-a"},
        {"authorization": "Bearer key-c"},
        {SERVICE_TOKEN_HEADER: "wrong"},
        {SERVICE_TOKEN_HEADER: "wrong", "authorization": "Bearer key-a"},  # a wrong admin token is not ignored
    ],
)
async def test_everything_else_is_refused(authenticator, headers):
    with pytest.raises(AuthError) as refused:
        await authenticator.principal(headers)
    assert refused.value.status == 401 and refused.value.message


async def test_without_a_configured_service_token_nobody_is_admin():
    authenticator = Authenticator(StaticKeyVerifier({}), InternalAuthSettings(service_token=None))
    with pytest.raises(AuthError):
        await authenticator.principal({SERVICE_TOKEN_HEADER: ""})
    with pytest.raises(AuthError):
        await authenticator.principal({"authorization": "Bearer anything"})


def test_principal_scope():
    assert Principal(None).admin and not Principal("t").admin
