"""The source-of-truth row contract: what a `documents` row looks like in PostgreSQL and in its CDC events.

The ingest service writes these columns (its migrations create the table); Debezium carries them in
the `before`/`after` images of `twin.cdc.public.documents`; the embedder parses them with DocumentRow.
Debezium's JSON converter sends uuid as a string, text[] as a JSON array, jsonb as a JSON string and
timestamptz as an ISO-8601 string; DocumentRow accepts those forms.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class DocumentKind(StrEnum):
    ARTICLE = "article"
    POST = "post"
    REPOSITORY = "repository"
    NOTE = "note"


class DocumentRow(BaseModel):
    """One row of public.documents."""

    model_config = ConfigDict(extra="ignore")

    id: str  # uuid
    tenant_id: str
    author_id: str  # uuid
    kind: DocumentKind
    external_id: str  # the caller's identity of the document: path, URL, export id
    title: str = ""
    url: str | None = None
    content: str = ""
    language: str | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    content_hash: str
    created_at: datetime | None = None
    updated_at: datetime | None = None
    traceparent: str | None = None  # W3C trace context of the write (twin_common.telemetry.kafka)

    @field_validator("metadata", mode="before")
    @classmethod
    def _json_text(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, str):
            return json.loads(value) if value else {}
        return value

    @field_validator("tags", mode="before")
    @classmethod
    def _null_tags(cls, value: Any) -> Any:
        return value or []
