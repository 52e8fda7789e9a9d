"""A small client of the gateway's REST API (twin.v1 over JSON, answers as Server-Sent Events) and of the web app's
/app/api reads it needs (who the key is, author names)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from twin_client.config import ClientConfig


class GatewayError(Exception):
    """A refusal of the gateway: HTTP status, code (INVALID_ARGUMENT ...), reason (content_filter ...)."""

    def __init__(self, status: int, code: str, message: str, reason: str = "", retry_after: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.reason = reason
        self.retry_after = retry_after

    @property
    def blocked(self) -> bool:
        return self.code == "FAILED_PRECONDITION" or self.reason == "content_filter"

    def as_dict(self) -> dict:
        body = {"status": self.status, "code": self.code, "message": self.message}
        if self.reason:
            body["reason"] = self.reason
        if self.retry_after:
            body["retry_after_s"] = self.retry_after
        return {"error": body}

    def explain(self) -> str:
        if self.blocked:
            return f"blocked by a guardrail: {self.message}"
        if self.status == 429:
            wait = f" (retry after {self.retry_after} s)" if self.retry_after else ""
            return f"quota reached: {self.message}{wait}"
        return f"{self.code or self.status}: {self.message}"


def _error(response: httpx.Response) -> GatewayError:
    try:
        body = response.json().get("error") or {}
    except (ValueError, AttributeError):
        body = {"message": response.text[:300]}
    return GatewayError(
        response.status_code,
        str(body.get("code", "")),
        str(body.get("message", f"HTTP {response.status_code}")),
        str(body.get("reason") or ""),
        response.headers.get("Retry-After"),
    )


@dataclass
class Answer:
    """A streamed answer once it is complete."""

    question: str
    text: str = ""
    final: dict = field(default_factory=dict)

    @property
    def request_id(self) -> str:
        return self.final.get("request_id", "")

    @property
    def citations(self) -> list[dict]:
        return self.final.get("citations", [])

    @property
    def retracted(self) -> bool:
        return bool(self.final.get("retracted"))

    def as_dict(self) -> dict:
        keep = (
            "request_id",
            "citations",
            "model",
            "model_version",
            "route",
            "intent",
            "template_version",
            "cache_hit",
            "cache_kind",
            "cache_similarity",
            "finish_reason",
            "retracted",
            "guardrails",
            "usage",
        )
        return {"question": self.question, "answer": "" if self.retracted else self.text} | {
            k: self.final.get(k) for k in keep if k in self.final
        }


class GatewayClient:
    def __init__(self, base_url: str, api_key: str | None, timeout_s: float = 300.0, transport=None):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout_s, transport=transport)
        self.base_url = base_url

    @classmethod
    def from_config(cls, config: ClientConfig | None = None) -> GatewayClient:
        config = config or ClientConfig.load()
        return cls(config.gateway_url, config.api_key)

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _json(self, method: str, path: str, **kwargs) -> dict:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise GatewayError(0, "UNAVAILABLE", f"the gateway at {self.base_url} is not reachable ({exc})") from None
        if response.status_code >= 400:
            raise _error(response)
        return response.json()

    # --- reads ------------------------------------------------------------------------------------------------

    def session(self) -> dict:
        return self._json("GET", "/app/api/session")

    def authors(self) -> list[dict]:
        return self._json("GET", "/app/api/library", params={"limit": 0})["facets"]["authors"]

    def author_ids(self, names_or_ids: list[str]) -> list[str]:
        """Author ids from ids or names (case-insensitive); ValueError naming an unknown one."""
        if not names_or_ids:
            return []
        known = None
        out = []
        for value in names_or_ids:
            try:
                out.append(str(uuid.UUID(value)))
                continue
            except ValueError:
                pass
            if known is None:
                known = self.authors()
            match = [a["id"] for a in known if a["name"].casefold() == value.casefold()]
            if not match:
                names = ", ".join(a["name"] for a in known) or "none"
                raise ValueError(f"no author named {value!r} in your tenant (its authors: {names})")
            out.append(match[0])
        return out

    # --- asking ------------------------------------------------------------------------------------------------

    def ask_stream(self, body: dict) -> Iterator[tuple[str, dict]]:
        """("delta", chunk) for each piece of the answer as it is generated, then ("final", chunk)."""
        try:
            with self.http.stream(
                "POST", "/v1/ask/stream", json=body, headers={"Accept": "text/event-stream"}
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                event = "message"
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data = json.loads(line[5:].strip())
                        if event == "error":
                            error = data.get("error") or {}
                            raise GatewayError(
                                200,
                                str(error.get("code", "")),
                                str(error.get("message", "")),
                                str(error.get("reason") or ""),
                            )
                        yield ("final" if data.get("done") else "delta"), data
                        event = "message"
        except httpx.HTTPError as exc:
            raise GatewayError(0, "UNAVAILABLE", f"the gateway at {self.base_url} is not reachable ({exc})") from None

    def feedback(self, request_id: str, rating: int, comment: str = "", corrected_answer: str = "") -> None:
        body = {"request_id": request_id, "rating": rating, "comment": comment, "corrected_answer": corrected_answer}
        self._json("POST", "/v1/feedback", json=body)
