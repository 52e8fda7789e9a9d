"""What the web app's Monitor page shows, read from the monitor service's API (`/v1/reports`,
`/v1/alerts`, `/reports/{id}`) with the caller's own key - the monitor checks it and shows a tenant its own reports
only. A monitor that cannot be reached, or that answers without the report API (404), is "not available" with the reason,
never an error page."""

from __future__ import annotations

import httpx

from twin_gateway.errors import Code, GatewayError


class MonitorUnavailable(Exception):
    """The monitor cannot answer (down, no report API, an error of its own): the reason, for people."""


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", error))[:300]
    return str(error or (body.get("detail") if isinstance(body, dict) else body) or body)[:300]


class MonitorView:
    def __init__(self, base_url: str, timeout_s: float, transport: httpx.AsyncBaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.transport = transport

    async def get(self, path: str, token: str | None) -> httpx.Response:
        """The monitor's answer; GatewayError for a refused key or a missing report, MonitorUnavailable else."""
        if not token:
            raise GatewayError(Code.UNAUTHENTICATED, "missing API key", reason="missing_key")
        try:
            async with httpx.AsyncClient(
                base_url=self.base_url, timeout=self.timeout_s, transport=self.transport
            ) as client:
                response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise MonitorUnavailable(
                f"the monitor service is not reachable at {self.base_url} ({type(exc).__name__})"
            ) from None
        if response.status_code == 404 and path.startswith("/v1/") and "error" not in response.text[:200]:
            raise MonitorUnavailable(f"the monitor at {self.base_url} has no report API (404 on the report routes)")
        if response.status_code in (401, 403):
            raise GatewayError(
                Code.UNAUTHENTICATED if response.status_code == 401 else Code.PERMISSION_DENIED,
                f"the monitor refused the key: {_message(response)}",
            )
        if response.status_code == 404:
            raise GatewayError(Code.NOT_FOUND, _message(response))
        if response.status_code >= 400:
            raise MonitorUnavailable(f"the monitor answered {response.status_code}: {_message(response)}")
        return response

    async def listing(self, path: str, token: str | None) -> dict:
        """{"available": true, ...the monitor's JSON} or {"available": false, "reason": ...}."""
        try:
            response = await self.get(path, token)
            data = response.json()
        except MonitorUnavailable as exc:
            return {"available": False, "reason": str(exc)}
        except ValueError:
            return {"available": False, "reason": "the monitor answered something that is not JSON"}
        return (
            {"available": True, **data} if isinstance(data, dict) else {"available": False, "reason": "not an object"}
        )
