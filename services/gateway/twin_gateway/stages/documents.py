"""Stages `ingest`, `list_documents`, `delete_document`: the ingest service's internal REST API, called with the
service token and the caller's tenant (from the key, never from the request)."""

from __future__ import annotations

import logging
import uuid

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_none

from twin_gateway.errors import Code, GatewayError, invalid
from twin_gateway.pipeline.context import RequestContext
from twin_gateway.pipeline.stage import Stage

log = logging.getLogger(__name__)


# Every ingest call is idempotent (documents are upserted by external id and content hash; list; delete), so one
# that met a pooled connection the ingest server was closing at that moment (keep-alive timeout) is sent again.
_resend_once_if_closed = retry(
    retry=retry_if_exception_type(httpx.RemoteProtocolError), stop=stop_after_attempt(2), wait=wait_none(), reraise=True
)


async def _call(resources, method: str, path: str, **kwargs) -> httpx.Response:
    try:
        response = await _resend_once_if_closed(resources.ingest.request)(method, path, **kwargs)
    except httpx.HTTPError as exc:
        log.warning("ingest service unreachable: %r", exc)
        raise GatewayError(Code.UNAVAILABLE, "the ingest service is unreachable, try again", retry_after_s=1) from None
    if response.status_code in (401, 403):
        log.error("the ingest service refused the gateway's service token (%d)", response.status_code)
        raise GatewayError(Code.UNAVAILABLE, "the ingest service refused the gateway (service token)")
    if response.status_code == 413:
        raise GatewayError(Code.PAYLOAD_TOO_LARGE, "documents: too large for the ingest service", field="documents")
    if response.status_code in (400, 422):
        raise GatewayError(Code.INVALID_ARGUMENT, f"the ingest service refused the request: {_detail(response)}")
    if response.status_code >= 500:
        raise GatewayError(Code.UNAVAILABLE, f"the ingest service failed ({response.status_code}), try again")
    return response


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:200]
    if isinstance(detail, list):
        return "; ".join(f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail)[:500]
    return str(detail)[:500]


class IngestStage(Stage):
    name = "ingest"

    def __init__(self, resources):
        self.resources = resources

    @classmethod
    def build(cls, resources) -> IngestStage:
        return cls(resources)

    async def run(self, ctx: RequestContext) -> None:
        request = ctx.request
        body = {
            "author": request.author,
            "documents": [
                {
                    "id": d.external_id,
                    "kind": d.kind,
                    "content": d.content,
                    "title": d.title,
                    "url": d.url,
                    "language": d.language,
                    "tags": list(d.tags),
                    "metadata": dict(d.metadata),
                }
                for d in request.documents
            ],
        }
        response = await _call(self.resources, "POST", f"/v1/tenants/{ctx.tenant_id}/documents", json=body)
        ctx.result = response.json()


class ListDocumentsStage(Stage):
    name = "list_documents"

    def __init__(self, resources):
        self.resources = resources

    @classmethod
    def build(cls, resources) -> ListDocumentsStage:
        return cls(resources)

    async def run(self, ctx: RequestContext) -> None:
        params = {"limit": ctx.request.limit, "offset": ctx.request.offset}
        response = await _call(self.resources, "GET", f"/v1/tenants/{ctx.tenant_id}/documents", params=params)
        ctx.result = response.json()


class DeleteDocumentStage(Stage):
    name = "delete_document"

    def __init__(self, resources):
        self.resources = resources

    @classmethod
    def build(cls, resources) -> DeleteDocumentStage:
        return cls(resources)

    async def run(self, ctx: RequestContext) -> None:
        document_id = ctx.request.document_id
        try:
            uuid.UUID(document_id)
        except ValueError:
            raise invalid("document_id", f"{document_id[:80]!r} is not a document id (a UUID)") from None
        response = await _call(self.resources, "DELETE", f"/v1/tenants/{ctx.tenant_id}/documents/{document_id}")
        if response.status_code == 404:
            raise GatewayError(
                Code.NOT_FOUND, f"document_id: no document {document_id} in your tenant", field="document_id"
            )
        ctx.result = True
