"""Bodies of the web app's JSON API (/app/api): strict requests, documented responses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow")


class RouteInfo(_Response):
    id: str
    description: str
    default: bool


class SessionResponse(_Response):
    key_id: str
    tenant_id: str
    scopes: list[str]
    routes: list[RouteInfo]
    mlflow_url: str


class JourneyStep(_Response):
    name: str
    done: bool
    at: str | None


class Journey(_Response):
    document_id: str
    state: str = Field(description="stored | captured | indexed | deleting | deleted | unknown")
    steps: list[JourneyStep]
    chunks: int
    content_hash: str | None
    freshness_s: float | None = Field(description="seconds from stored to indexed (the current version)")
    waiting_s: float | None = Field(description="seconds since stored, while not indexed")
    previous_version_indexed: bool


class LibraryDocument(_Response):
    document_id: str
    author_id: str
    author: str
    kind: str
    external_id: str
    title: str
    url: str | None
    tags: list[str]
    content_hash: str
    created_at: str | None
    updated_at: str | None
    characters: int
    journey: Journey


class LibraryResponse(_Response):
    documents: list[LibraryDocument]
    total: int
    facets: dict[str, list[dict[str, Any]]]
    tracker: dict[str, bool]


class JourneysResponse(_Response):
    journeys: list[Journey]
    tracker: dict[str, bool]


class PassageResponse(_Response):
    document: dict[str, Any]
    position: int
    text: str
    content_hash: str | None
    passages: int
    previous: int | None
    next: int | None


class UrlImportRequest(_Request):
    author: str = Field(min_length=1, max_length=200)
    urls: list[str] = Field(min_length=1, max_length=100)


class ImportRejection(_Response):
    external_id: str
    reason: str
    detail: str


class ImportReport(_Response):
    stored: int
    updated: int
    unchanged: int
    rejected: list[ImportRejection]


class ModelsResponse(_Response):
    models: list[dict[str, Any]]
    mlflow_url: str


class ModelVersionResponse(_Response):
    name: str
    version: str
    gate_table: dict[str, Any] | None
    curves: dict[str, list[dict[str, float]]]
    dataset_steps: list[dict[str, Any]]
    dataset_counts: dict[str, Any]
    mlflow_url: str


class MonitorResponse(_Response):
    available: bool
    reason: str | None = None
