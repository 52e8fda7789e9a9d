"""Stage `auth`: the caller's API key -> the caller (tenant, scopes, routes, quotas); the key's scope must cover
the operation. 401 UNAUTHENTICATED for a missing, malformed, unknown or revoked key; 403 PERMISSION_DENIED for
a missing scope. The tenant comes from the key only."""

from __future__ import annotations

from opentelemetry import trace

from twin_gateway.errors import Code, GatewayError
from twin_gateway.keys.store import KeyStore
from twin_gateway.pipeline.context import REQUIRED_SCOPE, RequestContext, Scope
from twin_gateway.pipeline.stage import Stage


class AuthStage(Stage):
    name = "auth"

    def __init__(self, keys: KeyStore):
        self.keys = keys

    @classmethod
    def build(cls, resources) -> AuthStage:
        return cls(resources.keys)

    async def run(self, ctx: RequestContext) -> None:
        token, ctx.credentials = ctx.credentials, None  # nothing after this stage holds the key
        caller = await self.keys.authenticate(token)
        ctx.caller = caller
        span = trace.get_current_span()
        span.set_attribute("twin.tenant_id", caller.tenant_id)
        span.set_attribute("twin.key_id", caller.key_id)
        ctx.log_fields.update(tenant_id=caller.tenant_id, key_id=caller.key_id)
        needed = REQUIRED_SCOPE[ctx.request.operation]
        if needed.value not in caller.scopes and Scope.ADMIN.value not in caller.scopes:
            raise GatewayError(
                Code.PERMISSION_DENIED,
                f"API key {caller.key_id} lacks the '{needed.value}' scope needed to {ctx.request.operation.value} "
                f"(it has: {', '.join(sorted(caller.scopes))})",
                reason="missing_scope",
            )
