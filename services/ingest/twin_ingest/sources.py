"""Which importer reads a given source: a URL, a JSONL file, a git repository, a folder or a single file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from twin_ingest.importers.files import import_folder, read_file
from twin_ingest.importers.git_repo import import_repository
from twin_ingest.importers.jsonl import import_jsonl
from twin_ingest.importers.web import import_urls
from twin_ingest.model import Rejection, SourceDocument
from twin_ingest.text import DEFAULT_MAX_BYTES, UnusableText
from twin_ingest.url_guard import AddressPolicy, FetchLimits


class UnknownSource(ValueError):
    """The source is neither a URL nor an existing file or folder."""


def detect(source: str) -> str:
    """'url', 'jsonl', 'git', 'folder' or 'file'."""
    if source.startswith(("http://", "https://")):
        return "url"
    path = Path(source)
    if not path.exists():
        raise UnknownSource(f"{source}: no such file or folder (and not an http(s) URL)")
    if path.is_dir():
        return "git" if (path / ".git").exists() else "folder"
    return "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "file"


def open_source(
    source: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    policy: AddressPolicy | None = None,
    limits: FetchLimits | None = None,
) -> Iterator[SourceDocument | Rejection]:
    """The importer for `source`; a URL is fetched under `policy` and `limits` (url_guard)."""
    kind = detect(source)
    if kind == "url":
        return import_urls([source], max_bytes=max_bytes, policy=policy, limits=limits)
    path = Path(source)
    if kind == "git":
        return import_repository(path, max_bytes=max_bytes)
    if kind == "folder":
        return import_folder(path, max_bytes)
    if kind == "jsonl":
        return import_jsonl(path, max_bytes)
    return _single_file(path, max_bytes)


def _single_file(path: Path, max_bytes: int) -> Iterator[SourceDocument | Rejection]:
    try:
        yield read_file(path, path.name, max_bytes)
    except UnusableText as exc:
        yield Rejection(path.name, exc.reason, exc.detail)
