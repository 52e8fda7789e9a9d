"""An import run: importer output in, rows written, a report of every outcome out. Bad input never stops it.

Every document is checked field by field (`validation.check_document`) and stored in its own transaction; any
error of one item becomes that item's rejection and the run goes on. Only losing the database connection stops
a run (it raises): nothing the items did is wrong then, and since imports are idempotent the same run can be
started again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

from opentelemetry import trace

from twin_ingest.model import ImportReport, Rejection, RejectReason, SourceDocument
from twin_ingest.store import DocumentStore
from twin_ingest.text import UnusableText
from twin_ingest.validation import ItemLimits, check_document, safe_text

log = logging.getLogger("twin.ingest")
tracer = trace.get_tracer("twin_ingest")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return safe_text(f"{type(exc).__name__}: {text[0] if text else ''}", 300)


def run_import(
    items: Iterable[SourceDocument | Rejection],
    store: DocumentStore,
    tenant_id: str,
    author: str,
    limits: ItemLimits | None = None,
) -> ImportReport:
    """Store every document for (tenant, author); count stored/updated/unchanged, keep every rejection."""
    if not tenant_id.strip() or not author.strip():
        raise ValueError("tenant and author must be non-empty")
    limits = limits or ItemLimits()
    report = ImportReport()
    with tracer.start_as_current_span("ingest.import", attributes={"twin.tenant.id": tenant_id}) as span:
        author_id = store.ensure_author(tenant_id, author)
        for item in items:
            if isinstance(item, Rejection):
                report.rejections.append(replace(item, external_id=safe_text(item.external_id)))
                continue
            try:
                report.count(store.upsert(tenant_id, author_id, check_document(item, limits)))
            except UnusableText as exc:
                report.rejections.append(Rejection(safe_text(item.external_id), exc.reason, exc.detail))
            except Exception as exc:  # noqa: BLE001 - one item's failure is its own rejection...
                if store.broken:  # ...unless the database went away: then the run stops and can be re-run
                    raise
                report.rejections.append(
                    Rejection(safe_text(item.external_id), RejectReason.STORE_FAILED, _first_line(exc))
                )
        for outcome, count in report.as_dict().items():
            if isinstance(count, int):
                span.set_attribute(f"twin.ingest.{outcome}", count)
    for rejection in report.rejections:
        log.info("rejected %s: %s (%s)", rejection.external_id, rejection.reason.value, rejection.detail)
    return report
