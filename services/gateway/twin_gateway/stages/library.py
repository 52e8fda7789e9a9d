"""Stages of the web app's Library: `library` (the tenant's documents, searched and filtered, with facets and each
document's journey), `document_journeys` (the journeys of named documents, deleted ones included: what the page
polls while documents travel) and `passage` (one indexed chunk of a document: where a citation link leads).

Everything is read inside the caller's tenant (from the key): PostgreSQL rows, the journey tracker's Redis hashes,
the vector store's chunks (the tenant and document are the store's filter, then checked again on the payload)."""

from __future__ import annotations

import uuid

from twin_gateway.errors import Code, GatewayError, invalid
from twin_gateway.journey.status import IndexState, journey, needs_index_check
from twin_gateway.journey.tracker import tracker_for
from twin_gateway.pipeline.context import RequestContext
from twin_gateway.pipeline.stage import Stage

_COLUMNS = (
    "d.id::text AS document_id, a.id::text AS author_id, a.name AS author, d.kind, d.external_id, d.title, "
    "d.url, d.tags, d.content_hash, d.created_at, d.updated_at, length(d.content) AS characters"
)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _uuids(field: str, values) -> list[str]:
    out = []
    for i, value in enumerate(values):
        try:
            out.append(str(uuid.UUID(value)))
        except ValueError:
            raise invalid(f"{field}[{i}]", f"{value[:80]!r} is not an id (a UUID)") from None
    return out


def _document(row: dict) -> dict:
    return {
        **row,
        "tags": list(row.get("tags") or []),
        "created_at": row["created_at"].isoformat() if row.get("created_at") else None,
        "updated_at": row["updated_at"].isoformat() if row.get("updated_at") else None,
    }


def document_chunks(store, tenant_id: str, document_id: str) -> list:
    """The indexed chunks of one document of the tenant, in their order (blocking: the store)."""
    ids = sorted(store.document_point_ids(tenant_id, document_id))
    hits = [h for h in (store.retrieve(ids) if ids else []) if h.payload.get("tenant_id") == tenant_id]
    return sorted(hits, key=lambda h: int(h.payload.get("position", 0)))


class _JourneyReader:
    """Journeys of some documents of one tenant (rows given: PostgreSQL's view; a missing id: no row)."""

    def __init__(self, resources):
        self.resources = resources
        self.tracker = tracker_for(resources)

    async def records(self, tenant_id: str, document_ids: list[str]) -> list[dict[str, str]]:
        if not document_ids:
            return []
        pipe = self.resources.redis.pipeline(transaction=False)
        for document_id in document_ids:
            pipe.hgetall(self.tracker.key(tenant_id, document_id))
        try:
            found = await pipe.execute()
        except Exception:  # noqa: BLE001 - Redis away: the journeys say what PostgreSQL and the index say
            return [{} for _ in document_ids]
        return [{k.decode(): v.decode() for k, v in item.items()} for item in found]

    def _index(self, tenant_id: str, document_id: str) -> IndexState:
        hits = document_chunks(self.resources.retriever.store, tenant_id, document_id)
        return IndexState(len(hits), frozenset(str(h.payload.get("content_hash") or "") for h in hits))

    async def journeys(self, tenant_id: str, document_ids: list[str], rows: dict[str, dict]) -> dict[str, dict]:
        records = await self.records(tenant_id, document_ids)
        out = {}
        for document_id, record in zip(document_ids, records, strict=True):
            row = rows.get(document_id)
            index = None
            if needs_index_check(row, record):
                index = await self.resources.run_blocking(self._index, tenant_id, document_id)
            out[document_id] = journey(document_id, row, record, index)
        return out


class LibraryStage(Stage):
    name = "library"

    def __init__(self, resources):
        self.resources = resources
        self.reader = _JourneyReader(resources)

    @classmethod
    def build(cls, resources) -> LibraryStage | None:
        return cls(resources) if resources.settings.webapp.enabled else None

    async def start(self) -> None:
        self.reader.tracker.start()

    async def close(self) -> None:
        await self.reader.tracker.close()

    async def run(self, ctx: RequestContext) -> None:
        request, tenant, db = ctx.request, ctx.tenant_id, self.resources.db
        params = {
            "tenant": tenant,
            "q": request.question.strip(),
            "like": _like(request.question.strip()),
            "authors": _uuids("filters.author_ids", request.filters.author_ids),
            "kinds": list(request.filters.kinds),
            "tags": list(request.filters.tags),
            "limit": request.limit,
            "offset": request.offset,
        }
        where = (
            "d.tenant_id = %(tenant)s"
            " AND (%(q)s = '' OR d.title ILIKE %(like)s OR d.external_id ILIKE %(like)s OR d.content ILIKE %(like)s)"
            " AND (cardinality(%(authors)s::uuid[]) = 0 OR d.author_id = ANY(%(authors)s::uuid[]))"
            " AND (cardinality(%(kinds)s::text[]) = 0 OR d.kind = ANY(%(kinds)s::text[]))"
            " AND d.tags @> %(tags)s::text[]"
        )
        what = "the document store"
        rows = []
        if request.limit:
            rows = await db.fetch(
                f"SELECT {_COLUMNS} FROM documents d JOIN authors a ON a.id = d.author_id WHERE {where}"
                " ORDER BY d.updated_at DESC, d.id LIMIT %(limit)s OFFSET %(offset)s",
                params,
                what=what,
            )
        total = await db.fetch(f"SELECT count(*) AS n FROM documents d WHERE {where}", params, what=what)
        authors = await db.fetch(
            "SELECT a.id::text AS id, a.name, count(d.id) AS documents FROM authors a"
            " LEFT JOIN documents d ON d.author_id = a.id WHERE a.tenant_id = %s GROUP BY a.id, a.name"
            " ORDER BY a.name",
            (tenant,),
            what=what,
        )
        kinds = await db.fetch(
            "SELECT kind, count(*) AS documents FROM documents WHERE tenant_id = %s GROUP BY kind ORDER BY kind",
            (tenant,),
            what=what,
        )
        tags = await db.fetch(
            "SELECT tag, count(*) AS documents FROM documents, unnest(tags) AS tag WHERE tenant_id = %s"
            " GROUP BY tag ORDER BY count(*) DESC, tag LIMIT 200",
            (tenant,),
            what=what,
        )
        documents = [_document(r) for r in rows]
        journeys = await self.reader.journeys(
            tenant, [d["document_id"] for d in documents], {d["document_id"]: d for d in documents}
        )
        for document in documents:
            document["journey"] = journeys[document["document_id"]]
        ctx.result = {
            "documents": documents,
            "total": total[0]["n"] if total else 0,
            "facets": {"authors": authors, "kinds": kinds, "tags": tags},
            "tracker": {"running": self.reader.tracker.running},
        }


class JourneysStage(Stage):
    name = "document_journeys"

    def __init__(self, resources):
        self.resources = resources
        self.reader = _JourneyReader(resources)

    @classmethod
    def build(cls, resources) -> JourneysStage | None:
        return cls(resources) if resources.settings.webapp.enabled else None

    async def run(self, ctx: RequestContext) -> None:
        ids = _uuids("ids", ctx.request.document_ids)
        rows = await self.resources.db.fetch(
            "SELECT id::text AS document_id, content_hash, updated_at FROM documents"
            " WHERE tenant_id = %s AND id = ANY(%s::uuid[])",
            (ctx.tenant_id, ids),
            what="the document store",
        )
        journeys = await self.reader.journeys(ctx.tenant_id, ids, {r["document_id"]: r for r in rows})
        ctx.result = {"journeys": [journeys[i] for i in ids], "tracker": {"running": self.reader.tracker.running}}


class PassageStage(Stage):
    name = "passage"

    def __init__(self, resources):
        self.resources = resources

    @classmethod
    def build(cls, resources) -> PassageStage | None:
        return cls(resources) if resources.settings.webapp.enabled else None

    async def run(self, ctx: RequestContext) -> None:
        document_id = _uuids("document_id", [ctx.request.document_id])[0]
        rows = await self.resources.db.fetch(
            f"SELECT {_COLUMNS} FROM documents d JOIN authors a ON a.id = d.author_id"
            " WHERE d.tenant_id = %s AND d.id = %s::uuid",
            (ctx.tenant_id, document_id),
            what="the document store",
        )
        if not rows:
            raise GatewayError(
                Code.NOT_FOUND, f"document_id: no document {document_id} in your tenant", field="document_id"
            )
        store = self.resources.retriever.store
        chunks = await self.resources.run_blocking(document_chunks, store, ctx.tenant_id, document_id)
        position = ctx.request.position
        chosen = next((h for h in chunks if int(h.payload.get("position", 0)) == position), None)
        if chosen is None:
            raise GatewayError(
                Code.NOT_FOUND,
                f"position: document {document_id} has no indexed passage {position} ({len(chunks)} passages indexed)",
                field="position",
            )
        positions = [int(h.payload.get("position", 0)) for h in chunks]
        ctx.result = {
            "document": _document(rows[0]),
            "position": position,
            "text": chosen.payload.get("text", ""),
            "content_hash": chosen.payload.get("content_hash"),
            "passages": len(chunks),
            "previous": max((p for p in positions if p < position), default=None),
            "next": min((p for p in positions if p > position), default=None),
        }
