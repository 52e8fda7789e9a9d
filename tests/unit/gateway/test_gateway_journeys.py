"""Document journeys from what PostgreSQL, the tracker's hash and the index say (pure functions), and the tracker's
reading of the CDC and DocumentIndexed records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from twin_common.events import ChangeOp, DocumentIndexed
from twin_gateway.journey.status import IndexState, journey, needs_index_check
from twin_gateway.journey.tracker import from_cdc, from_indexed

STORED = datetime(2026, 12, 1, 8, 0, 0, tzinfo=UTC)
NOW = STORED + timedelta(seconds=30)
ROW = {"content_hash": "h2", "updated_at": STORED}


def at(seconds: float) -> str:
    return (STORED + timedelta(seconds=seconds)).isoformat()


def steps(result: dict) -> list[bool]:
    return [s["done"] for s in result["steps"]]


def test_a_stored_row_nothing_else_known_is_waiting():
    result = journey("d1", ROW, {}, IndexState(0, frozenset()), NOW)
    assert result["state"] == "stored" and steps(result) == [True, False, False]
    assert result["waiting_s"] == 30.0 and result["freshness_s"] is None and not result["previous_version_indexed"]


def test_captured_then_indexed_with_freshness_from_stored_to_indexed():
    captured = {"captured_op": "u", "captured_hash": "h2", "captured_at": at(0.4)}
    result = journey("d1", ROW, captured, None, NOW)
    assert result["state"] == "captured" and steps(result) == [True, True, False]
    indexed = {**captured, "indexed_op": "u", "indexed_hash": "h2", "indexed_at": at(1.5), "chunks": "3"}
    result = journey("d1", ROW, indexed, None, NOW)
    assert result["state"] == "indexed" and steps(result) == [True, True, True]
    assert result["freshness_s"] == 1.5 and result["chunks"] == 3 and result["waiting_s"] is None


def test_an_older_version_captured_or_indexed_does_not_count_for_the_new_one():
    old = {"captured_op": "c", "captured_hash": "h1", "indexed_op": "c", "indexed_hash": "h1", "chunks": "2"}
    result = journey("d1", ROW, old, IndexState(2, frozenset({"h1"})), NOW)
    assert result["state"] == "stored" and result["previous_version_indexed"]


def test_the_index_itself_says_indexed_when_the_tracker_knows_nothing():
    result = journey("d1", ROW, {}, IndexState(4, frozenset({"h2"})), NOW)
    assert result["state"] == "indexed" and result["chunks"] == 4
    assert result["steps"][1] == {"name": "captured", "done": True, "at": None}  # implied, time unknown
    mixed = journey("d1", ROW, {}, IndexState(4, frozenset({"h1", "h2"})), NOW)  # stale chunks still there
    assert mixed["state"] == "stored"


def test_a_delete_travels_too():
    captured = {
        "captured_op": "d",
        "captured_hash": "",
        "captured_at": at(0.2),
        "indexed_op": "u",
        "indexed_hash": "h2",
    }
    result = journey("d1", None, captured, IndexState(3, frozenset({"h2"})), NOW)
    assert result["state"] == "deleting" and steps(result) == [True, True, False]
    assert result["previous_version_indexed"]
    removed = {**captured, "indexed_op": "d", "indexed_hash": "", "indexed_at": at(0.9), "chunks": "0"}
    result = journey("d1", None, removed, None, NOW)
    assert result["state"] == "deleted" and steps(result) == [True, True, True] and result["freshness_s"] == 0.7


def test_an_unknown_id_is_unknown_until_the_index_says_it_holds_nothing():
    assert journey("d9", None, {}, None, NOW)["state"] == "unknown"
    assert journey("d9", None, {}, IndexState(0, frozenset()), NOW)["state"] == "deleted"


def test_the_index_is_asked_only_when_the_hash_cannot_tell():
    assert needs_index_check(ROW, {})
    assert not needs_index_check(ROW, {"indexed_op": "c", "indexed_hash": "h2"})
    assert needs_index_check(ROW, {"indexed_op": "c", "indexed_hash": "h1"})
    assert not needs_index_check(None, {"indexed_op": "d"})


def envelope(op: str, before: dict | None, after: dict | None) -> bytes:
    return json.dumps(
        {"before": before, "after": after, "op": op, "source": {"lsn": 4242, "ts_ms": 1}, "ts_ms": 1_764_576_000_123}
    ).encode()


def test_cdc_records_become_captured_facts():
    row = {"id": "d1", "tenant_id": "t1", "content_hash": "h2", "content": "x" * 10}
    update = from_cdc(envelope("u", {**row, "content_hash": "h1"}, row))
    assert (update.tenant_id, update.document_id, update.lsn_field, update.lsn) == ("t1", "d1", "captured_lsn", 4242)
    assert update.fields["captured_op"] == "u" and update.fields["captured_hash"] == "h2"
    assert update.fields["captured_at"].startswith("2025-12-01T08:00:00.123")  # when Debezium read the change
    delete = from_cdc(envelope("d", row, None))
    assert delete.fields["captured_op"] == "d" and delete.fields["captured_hash"] == ""
    assert from_cdc(None) is None  # the tombstone after a delete


def test_document_indexed_events_become_indexed_facts():
    event = DocumentIndexed(
        tenant_id="t1",
        document_id="d1",
        content_hash="h2",
        op=ChangeOp.UPDATE,
        chunk_count=3,
        embedding_model="minilm",
        source_lsn=4242,
    )
    update = from_indexed(event.to_bytes())
    assert (update.lsn_field, update.lsn) == ("indexed_lsn", 4242)
    assert update.fields | {"indexed_at": ""} == {
        "indexed_op": "u",
        "indexed_hash": "h2",
        "indexed_at": "",
        "chunks": "3",
        "embedding_model": "minilm",
    }
