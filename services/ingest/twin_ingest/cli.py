"""`twin ingest SOURCE --author NAME [--tenant T]`: import a folder, git repository, JSONL export, file or URL.

Prints the report (stored / updated / unchanged / rejected, and why each rejection happened) and exits 0;
a source that cannot be read at all (missing path, not a repository) exits 2 with the reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from twin_cli.progress import progress_reporter, track
from twin_common.documents import DocumentKind

from twin_ingest.db import migrate
from twin_ingest.importers.git_repo import NotARepository
from twin_ingest.model import ImportReport, Rejection, SourceDocument
from twin_ingest.pipeline import run_import
from twin_ingest.settings import IngestSettings
from twin_ingest.sources import UnknownSource, detect, open_source
from twin_ingest.store import DocumentStore


def with_kind(items: Iterable[SourceDocument | Rejection], kind: DocumentKind) -> Iterator[SourceDocument | Rejection]:
    for item in items:
        yield replace(item, kind=kind) if isinstance(item, SourceDocument) else item


def expected_items(source: str) -> int | None:
    """How many documents a source will yield, when that is cheap to know (for the progress bar's ETA)."""
    try:
        kind = detect(source)
    except UnknownSource:
        return None
    path = Path(source)
    if kind == "folder":
        return sum(
            1 for p in path.rglob("*") if p.is_file() and not any(x.startswith(".") for x in p.relative_to(path).parts)
        )
    if kind == "jsonl":
        with path.open("rb") as lines:
            return sum(1 for line in lines if line.strip())
    return 1 if kind in ("file", "url") else None


def with_progress(items: Iterable[SourceDocument | Rejection], source: str) -> Iterator[SourceDocument | Rejection]:
    """The items, with progress on stderr (a bar on a terminal, plain lines otherwise)."""
    return track(items, progress_reporter(), "importing", total=expected_items(source), unit="documents")


def format_report(report: ImportReport) -> str:
    summary = (
        f"stored {report.stored}, updated {report.updated}, unchanged {report.unchanged}, rejected {report.rejected}"
    )
    lines = [summary]
    lines += [f"  rejected {r.external_id}: {r.reason.value} ({r.detail})" for r in report.rejections]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    settings = IngestSettings()
    parser = argparse.ArgumentParser(
        prog="twin ingest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", help="folder, git repository, .jsonl file, single file or http(s) URL")
    parser.add_argument("--author", required=True, help="author name (created in the tenant on first use)")
    parser.add_argument("--tenant", default="default", help="tenant id (default: %(default)s)")
    parser.add_argument("--dsn", default=None, help="PostgreSQL DSN (default: TWIN_PG_* settings)")
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=settings.max_document_bytes,
        help="reject documents larger than this (default: %(default)s)",
    )
    parser.add_argument(
        "--kind",
        choices=[k.value for k in DocumentKind],
        default=None,
        help="store every document as this kind (default: what the importer decides)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if not args.author.strip() or not args.tenant.strip():
        parser.error("--author and --tenant must be non-empty")
    for name, value in (("--author", args.author), ("--tenant", args.tenant)):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            parser.error(f"{name} is not valid UTF-8")
    dsn = args.dsn or settings.dsn()
    try:
        items = open_source(args.source, args.max_bytes, settings.fetch_policy(), settings.fetch_limits())
        if args.kind:
            items = with_kind(items, DocumentKind(args.kind))
        items = with_progress(items, args.source)
        migrate(dsn)
        with DocumentStore(dsn) as store:
            report = run_import(items, store, args.tenant, args.author, settings.item_limits())
    except (UnknownSource, NotARepository) as exc:
        print(f"twin ingest: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_dict(), indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
