"""Checks every field of a document before it is stored: sizes against limits, text PostgreSQL can store.

Each importer checks the content it reads; this checks the rest (id, title, url, language, tags, metadata) for
every item whatever its source, so one bad field becomes that item's rejection with the field's name, never an
error that stops the import (a lone surrogate fails UTF-8 encoding, a NUL fails PostgreSQL's text, an id over
~2.7 KB fails the unique index).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from twin_ingest.model import RejectReason, SourceDocument
from twin_ingest.text import UnusableText


@dataclass(frozen=True)
class ItemLimits:
    """Per-document limits (bytes of UTF-8 unless said otherwise)."""

    max_external_id_bytes: int = 2000  # with tenant and author it stays under PostgreSQL's btree row limit
    max_title_bytes: int = 2000
    max_url_bytes: int = 2048
    max_language_bytes: int = 35  # the longest BCP 47 tag in practice
    max_tags: int = 64
    max_tag_bytes: int = 100
    max_metadata_keys: int = 64
    max_metadata_bytes: int = 16_384  # the whole metadata object as JSON


def safe_text(value: str, limit: int = 200) -> str:
    """`value` made printable in a report or a log: unpaired surrogates escaped, cut to `limit` characters."""
    text = value.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_string(field: str, value: str, max_bytes: int | None = None) -> None:
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise UnusableText(RejectReason.BAD_ENCODING, f"{field} contains unpaired surrogates (not UTF-8)") from None
    if "\x00" in value:
        raise UnusableText(RejectReason.INVALID, f"{field} contains NUL characters")
    if max_bytes is not None and size > max_bytes:
        raise UnusableText(RejectReason.TOO_LARGE, f"{field} is {size} bytes, over the limit of {max_bytes}")


def _check_json(field: str, value: Any) -> None:
    """Every string (keys included) of a JSON value, however deeply nested."""
    if isinstance(value, str):
        _check_string(field, value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_string(f"{field} key", str(key))
            _check_json(f"{field}.{safe_text(str(key), 40)}", item)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_json(f"{field}[{index}]", item)


def check_document(document: SourceDocument, limits: ItemLimits) -> SourceDocument:
    """The document if every field is acceptable; raises UnusableText naming the first field that is not."""
    if not document.external_id.strip():
        raise UnusableText(RejectReason.INVALID, "id is empty")
    _check_string("id", document.external_id, limits.max_external_id_bytes)
    _check_string("title", document.title, limits.max_title_bytes)
    if document.url is not None:
        _check_string("url", document.url, limits.max_url_bytes)
    if document.language is not None:
        _check_string("language", document.language, limits.max_language_bytes)
    if len(document.tags) > limits.max_tags:
        raise UnusableText(RejectReason.TOO_LARGE, f"{len(document.tags)} tags, over the limit of {limits.max_tags}")
    for index, tag in enumerate(document.tags):
        if not isinstance(tag, str):
            raise UnusableText(RejectReason.INVALID, f"tags[{index}] is not a string")
        _check_string(f"tags[{index}]", tag, limits.max_tag_bytes)
    if not isinstance(document.metadata, dict):
        raise UnusableText(RejectReason.INVALID, "metadata is not an object")
    if len(document.metadata) > limits.max_metadata_keys:
        raise UnusableText(
            RejectReason.TOO_LARGE,
            f"metadata has {len(document.metadata)} keys, over the limit of {limits.max_metadata_keys}",
        )
    try:
        _check_json("metadata", document.metadata)
        size = len(json.dumps(document.metadata, ensure_ascii=False, default=str).encode("utf-8"))
    except UnusableText:
        raise
    except RecursionError:
        raise UnusableText(RejectReason.INVALID, "metadata is nested too deeply") from None
    except (TypeError, ValueError) as exc:
        raise UnusableText(RejectReason.INVALID, f"metadata is not JSON: {exc}") from None
    if size > limits.max_metadata_bytes:
        raise UnusableText(
            RejectReason.TOO_LARGE, f"metadata is {size} bytes as JSON, over the limit of {limits.max_metadata_bytes}"
        )
    _check_string("content", document.content)
    return replace(document, tags=tuple(document.tags))
