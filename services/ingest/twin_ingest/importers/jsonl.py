"""A JSONL export: one JSON object per line, each a document (default kind `post`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from twin_common.documents import DocumentKind

from twin_ingest.model import Rejection, RejectReason, SourceDocument
from twin_ingest.text import DEFAULT_MAX_BYTES, UnusableText, check_text, decode_text


class JsonlRecord(BaseModel):
    """The accepted shape of one line."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    id: str = Field(min_length=1)
    content: str
    kind: DocumentKind = DocumentKind.POST
    title: str = ""
    url: str | None = None
    language: str | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


def _explain(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}" for e in error.errors())


def parse_line(raw: bytes, line_number: int, max_bytes: int = DEFAULT_MAX_BYTES) -> SourceDocument:
    """One line as a document; raises UnusableText with the reason."""
    text = decode_text(raw, max_bytes)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnusableText(RejectReason.INVALID, f"line {line_number}: not JSON ({exc.msg})") from None
    try:
        record = JsonlRecord.model_validate(data)
    except ValidationError as exc:
        raise UnusableText(RejectReason.INVALID, f"line {line_number}: {_explain(exc)}") from None
    content = check_text(record.content, max_bytes)
    return SourceDocument(
        kind=record.kind,
        external_id=record.id,
        content=content,
        title=record.title,
        url=record.url,
        language=record.language,
        tags=tuple(record.tags),
        metadata=record.metadata,
    )


def _line_id(raw: bytes, line_number: int) -> str:
    try:
        value = json.loads(raw)
        if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
            return value["id"]
    except (ValueError, UnicodeDecodeError):
        pass
    return f"line:{line_number}"


def import_lines(lines: list[bytes], max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[SourceDocument | Rejection]:
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue  # blank lines separate nothing
        try:
            yield parse_line(raw, number, max_bytes)
        except UnusableText as exc:
            yield Rejection(_line_id(raw, number), exc.reason, exc.detail)


def import_jsonl(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[SourceDocument | Rejection]:
    """Every non-blank line of the file, in order."""
    with path.open("rb") as handle:
        yield from import_lines(handle.read().split(b"\n"), max_bytes)
