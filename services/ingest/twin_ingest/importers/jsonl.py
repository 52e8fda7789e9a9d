"""A JSONL export: one JSON object per line, each a document (default kind `post`).

The file is read line by line (never whole): a line longer than the document limit is rejected and skipped
without being held in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from twin_common.documents import DocumentKind

from twin_ingest.model import Rejection, RejectReason, SourceDocument
from twin_ingest.text import DEFAULT_MAX_BYTES, UnusableText, check_text, decode_text


class JsonlRecord(BaseModel):
    """The accepted shape of one line."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    id: str
    content: str
    kind: DocumentKind = DocumentKind.POST
    title: str = ""
    url: str | None = None
    language: str | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        # checked here rather than with min_length, which cannot read a string holding an unpaired surrogate
        # and would refuse the whole request; such an id is rejected per document (validation.check_document)
        if not value:
            raise ValueError("String should have at least 1 character")
        return value


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


class _LongLine(bytes):
    """The first bytes of a line that was longer than the limit (the rest was skipped)."""


def import_lines(lines: Iterable[bytes], max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[SourceDocument | Rejection]:
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, _LongLine):
            yield Rejection(
                f"line:{number}", RejectReason.TOO_LARGE, f"line {number} is over the limit of {max_bytes} bytes"
            )
            continue
        if not raw.strip():
            continue  # blank lines separate nothing
        try:
            yield parse_line(raw, number, max_bytes)
        except UnusableText as exc:
            yield Rejection(_line_id(raw, number), exc.reason, exc.detail)


# A JSON line carries its content escaped (a quote or a control character takes two to six bytes), so a line
# may be longer than the document it holds; lines up to this many times the document limit are parsed.
LINE_ALLOWANCE = 8


def read_lines(handle, max_line_bytes: int) -> Iterator[bytes]:
    """The lines of a binary file, one at a time; a line over `max_line_bytes` comes as an empty _LongLine after
    its bytes were skipped (read in bounded pieces, never held whole)."""
    while True:
        line = handle.readline(max_line_bytes + 1)
        if not line:
            return
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = handle.readline(1 << 20)
            yield _LongLine()
            continue
        yield line.rstrip(b"\n")


def import_jsonl(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[SourceDocument | Rejection]:
    """Every non-blank line of the file, in order."""
    with path.open("rb") as handle:
        yield from import_lines(read_lines(handle, max_bytes * LINE_ALLOWANCE), max_bytes)
