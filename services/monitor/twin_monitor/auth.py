"""Who may read which reports: a tenant's API key sees that tenant only; the service token sees every tenant.

- Tenant keys are the gateway's API keys (`Authorization: Bearer twin_<id>_<secret>`), checked by the gateway's own
  key store (twin_gateway.keys.store.KeyStore: HMAC of the key in PostgreSQL, revocations seen within its cache
  TTL) whenever that module is installed. Until it is, `StaticKeyVerifier` checks keys listed by their SHA-256 in
  TWIN_MONITOR_KEYS (development and tests only).
- The admin credential is the platform's internal service token (TWIN_SERVICE_TOKEN), sent in the
  `x-twin-service-token` header (or as the bearer token): operators and the web app's server side use it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Protocol

from pydantic import Field
from pydantic_settings import BaseSettings
from twin_common.service_auth import ServiceTokenCheck
from twin_common.settings import SERVICE_TOKEN_HEADER, InternalAuthSettings

from twin_monitor.settings import _config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """Who is asking: a tenant (tenant_id) or an admin (tenant_id None, sees every tenant)."""

    tenant_id: str | None
    key_id: str | None = None

    @property
    def admin(self) -> bool:
        return self.tenant_id is None

    def may_read(self, tenant_id: str) -> bool:
        return self.admin or self.tenant_id == tenant_id


class AuthError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class KeyVerifier(Protocol):
    async def verify(self, token: str) -> Principal:
        """The tenant the key belongs to; AuthError(401) for an unknown, malformed or revoked key,
        AuthError(503) when the key store cannot be reached."""
        ...

    async def close(self) -> None: ...


class StaticKeySettings(BaseSettings):
    """TWIN_MONITOR_KEYS: a JSON object {sha256 hex of a key: tenant id} (development and tests, never clear keys)."""

    model_config = _config("TWIN_MONITOR_")

    keys: dict[str, str] = Field(default_factory=dict)


class StaticKeyVerifier:
    def __init__(self, keys: dict[str, str]):
        self._keys = {k.lower(): v for k, v in keys.items()}

    @staticmethod
    def digest(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    async def verify(self, token: str) -> Principal:
        digest = self.digest(token)
        for known, tenant in self._keys.items():
            if hmac.compare_digest(known, digest):
                return Principal(tenant, key_id=digest[:12])
        raise AuthError(401, "unknown API key")

    async def close(self) -> None:
        return None


class GatewayKeyVerifier:
    """The gateway's key store, used as a library (the same check, the same table, the same revocation delay)."""

    def __init__(self, dsn: str):
        from twin_gateway.db import Database
        from twin_gateway.keys.store import KeyStore
        from twin_gateway.settings import KeySettings

        self._db = Database(dsn, size=2)
        self._store = KeyStore(self._db, KeySettings())

    async def verify(self, token: str) -> Principal:
        from twin_gateway.errors import GatewayError

        try:
            caller = await self._store.authenticate(token)
        except GatewayError as exc:
            raise AuthError(exc.http_status, exc.message) from None
        return Principal(caller.tenant_id, key_id=caller.key_id)

    async def close(self) -> None:
        await self._db.close()


def gateway_keys_available() -> bool:
    try:
        import twin_gateway.keys.store  # noqa: F401
    except ImportError:
        return False
    return True


def build_verifier(dsn: str) -> KeyVerifier:
    static = StaticKeySettings().keys
    if gateway_keys_available():
        if static:
            log.warning("TWIN_MONITOR_KEYS is ignored: tenant keys are checked by the gateway's key store")
        return GatewayKeyVerifier(dsn)
    log.warning(
        "twin_gateway.keys is not installed: tenant keys are checked against TWIN_MONITOR_KEYS (%d keys)", len(static)
    )
    return StaticKeyVerifier(static)


def static_keys_env(keys: dict[str, str]) -> str:
    """The TWIN_MONITOR_KEYS value for {clear key: tenant} (what tests and `make up` set)."""
    return json.dumps({StaticKeyVerifier.digest(k): t for k, t in keys.items()})


class Authenticator:
    """Turns a request's headers into a Principal (or AuthError)."""

    def __init__(self, verifier: KeyVerifier, internal: InternalAuthSettings):
        self.verifier = verifier
        self._service_token = ServiceTokenCheck.from_settings(internal)

    async def principal(self, headers) -> Principal:
        service = headers.get(SERVICE_TOKEN_HEADER)
        if service is not None:
            if self._service_token.accepts(service):
                return Principal(None, key_id="service")
            raise AuthError(401, f"wrong service token (header {SERVICE_TOKEN_HEADER})")
        authorization = headers.get("authorization") or ""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(
                401, f"missing credentials: send 'Authorization: Bearer <API key>' or the {SERVICE_TOKEN_HEADER} header"
            )
        token = token.strip()
        if self._service_token.accepts(token):
            return Principal(None, key_id="service")
        return await self.verifier.verify(token)

    async def close(self) -> None:
        await self.verifier.close()
