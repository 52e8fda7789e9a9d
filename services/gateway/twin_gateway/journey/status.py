"""A document's journey from what three places say: its PostgreSQL row (stored), the tracker's Redis hash (change
captured, indexed) and, when the hash does not say it is indexed, the vector store itself (its chunks and the
content hash in their payload). Pure functions: the stage gathers the inputs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class IndexState:
    """What the vector store holds for one document."""

    chunks: int
    content_hashes: frozenset[str]


def _time(value) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round(max(0.0, (later - earlier).total_seconds()), 3)


def journey(
    document_id: str,
    row: dict | None,
    record: dict[str, str] | None,
    index: IndexState | None,
    now: datetime | None = None,
) -> dict:
    """The journey as the web app shows it:

    state      stored | captured | indexed (the current version) | deleting (the delete not yet applied to the
               index) | deleted | unknown (no row, nothing known)
    steps      [{name, done, at}] for stored, captured, indexed (the current version)
    chunks     chunks of the current version in the index (when indexed)
    freshness_s  from stored to indexed, for the current version
    waiting_s    from stored until now, while not indexed
    previous_version_indexed  an older version is still what search finds
    """
    now = now or datetime.now(UTC)
    record = record or {}
    captured_op, indexed_op = record.get("captured_op"), record.get("indexed_op")
    captured_at, indexed_at = _time(record.get("captured_at")), _time(record.get("indexed_at"))
    if row is None:
        if captured_op == "d" or indexed_op == "d":
            removed = indexed_op == "d"
            return {
                "document_id": document_id,
                "state": "deleted" if removed else "deleting",
                "steps": [
                    {"name": "deleted", "done": True, "at": None},
                    {"name": "captured", "done": captured_op == "d", "at": _iso(captured_at)},
                    {"name": "removed from the index", "done": removed, "at": _iso(indexed_at) if removed else None},
                ],
                "chunks": 0,
                "content_hash": None,
                "freshness_s": _seconds(indexed_at, captured_at) if removed else None,
                "waiting_s": None,
                "previous_version_indexed": not removed and bool(index and index.chunks),
            }
        gone = index is not None and index.chunks == 0
        return {
            "document_id": document_id,
            "state": "deleted" if gone else "unknown",
            "steps": [],
            "chunks": 0,
            "content_hash": None,
            "freshness_s": None,
            "waiting_s": None,
            "previous_version_indexed": bool(index and index.chunks),
        }

    content_hash = row["content_hash"]
    stored_at = _time(row.get("updated_at"))
    captured = captured_op in ("c", "u", "r") and record.get("captured_hash") == content_hash
    indexed_by_event = indexed_op in ("c", "u", "r") and record.get("indexed_hash") == content_hash
    indexed_in_store = bool(index and index.chunks and index.content_hashes == frozenset({content_hash}))
    indexed = indexed_by_event or indexed_in_store
    chunks = int(record.get("chunks") or 0) if indexed_by_event else (index.chunks if indexed_in_store else 0)
    when_indexed = indexed_at if indexed_by_event else None
    if indexed and not captured:  # indexed from the stream means it was captured; the time is not known here
        captured, captured_at = True, None
    older = (indexed_op in ("c", "u", "r") and record.get("indexed_hash") not in (None, "", content_hash)) or bool(
        index and index.chunks and content_hash not in index.content_hashes
    )
    return {
        "document_id": document_id,
        "state": "indexed" if indexed else ("captured" if captured else "stored"),
        "steps": [
            {"name": "stored", "done": True, "at": _iso(stored_at)},
            {"name": "captured", "done": captured, "at": _iso(captured_at) if captured else None},
            {"name": "indexed", "done": indexed, "at": _iso(when_indexed)},
        ],
        "chunks": chunks,
        "content_hash": content_hash,
        "freshness_s": _seconds(when_indexed, stored_at) if indexed else None,
        "waiting_s": None if indexed else _seconds(now, stored_at),
        "previous_version_indexed": not indexed and older,
    }


def needs_index_check(row: dict | None, record: dict[str, str] | None) -> bool:
    """Whether the hash alone cannot say the current version is indexed (then the store is asked)."""
    record = record or {}
    if row is None:
        return record.get("indexed_op") != "d"
    return not (record.get("indexed_op") in ("c", "u", "r") and record.get("indexed_hash") == row["content_hash"])
