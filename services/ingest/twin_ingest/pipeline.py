"""An import run: importer output in, rows written, a report of every outcome out. Bad input never stops it."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import psycopg
from opentelemetry import trace

from twin_ingest.model import ImportReport, Rejection, RejectReason, SourceDocument
from twin_ingest.store import DocumentStore

log = logging.getLogger("twin.ingest")
tracer = trace.get_tracer("twin_ingest")


def run_import(
    items: Iterable[SourceDocument | Rejection], store: DocumentStore, tenant_id: str, author: str
) -> ImportReport:
    """Store every document for (tenant, author); count stored/updated/unchanged, keep every rejection."""
    if not tenant_id.strip() or not author.strip():
        raise ValueError("tenant and author must be non-empty")
    report = ImportReport()
    with tracer.start_as_current_span("ingest.import", attributes={"twin.tenant.id": tenant_id}) as span:
        author_id = store.ensure_author(tenant_id, author)
        for item in items:
            if isinstance(item, Rejection):
                report.rejections.append(item)
                continue
            try:
                report.count(store.upsert(tenant_id, author_id, item))
            except psycopg.DataError as exc:  # e.g. text PostgreSQL cannot store; the next document goes on
                report.rejections.append(Rejection(item.external_id, RejectReason.STORE_FAILED, str(exc).strip()))
        for outcome, count in report.as_dict().items():
            if isinstance(count, int):
                span.set_attribute(f"twin.ingest.{outcome}", count)
    for rejection in report.rejections:
        log.info("rejected %s: %s (%s)", rejection.external_id, rejection.reason.value, rejection.detail)
    return report
