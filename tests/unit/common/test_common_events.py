import json

import pytest
from pydantic import ValidationError
from twin_common.documents import DocumentKind, DocumentRow
from twin_common.events import ChangeOp, DeadLetter, DebeziumEnvelope, DocumentIndexed, FeedbackGiven
from twin_common.topics import CDC_DOCUMENTS, cdc_topic, dead_letter_topic


def test_event_round_trip_keeps_identity_and_version():
    event = DocumentIndexed(
        tenant_id="t1",
        document_id="d1",
        content_hash="h",
        op=ChangeOp.UPDATE,
        chunk_count=3,
        embedding_model="all-MiniLM-L6-v2",
    )
    again = DocumentIndexed.from_bytes(event.to_bytes())
    assert again == event
    assert again.event_id == event.event_id and len(event.event_id) == 32
    assert json.loads(event.to_bytes())["event_type"] == "document.indexed"


def test_events_get_distinct_ids():
    a = FeedbackGiven(request_id="r", tenant_id="t", rating=1)
    b = FeedbackGiven(request_id="r", tenant_id="t", rating=1)
    assert a.event_id != b.event_id


def test_feedback_rating_is_bounded():
    with pytest.raises(ValidationError):
        FeedbackGiven(request_id="r", tenant_id="t", rating=5)


def test_debezium_update_envelope_exposes_images_and_source():
    raw = json.dumps(
        {
            "before": {"id": 1, "title": "old"},
            "after": {"id": 1, "title": "new"},
            "op": "u",
            "source": {"connector": "postgresql", "table": "documents", "schema": "public", "lsn": 42, "ts_ms": 7},
            "ts_ms": 9,
        }
    )
    env = DebeziumEnvelope.parse(raw.encode())
    assert env.op is ChangeOp.UPDATE
    assert env.row == {"id": 1, "title": "new"}
    assert env.source.lsn == 42 and env.source.schema_ == "public"


def test_debezium_delete_row_is_the_before_image_and_tombstone_is_none():
    env = DebeziumEnvelope.parse(b'{"before": {"id": 5}, "after": null, "op": "d", "source": {}}')
    assert env.op is ChangeOp.DELETE and env.row == {"id": 5}
    assert DebeziumEnvelope.parse(None) is None
    assert DebeziumEnvelope.parse(b"") is None


def test_debezium_unknown_op_is_rejected():
    with pytest.raises(ValidationError):
        DebeziumEnvelope.parse(b'{"op": "x"}')


def test_document_row_accepts_debezium_json_forms():
    row = DocumentRow.model_validate(
        {
            "id": "6f1c",
            "tenant_id": "acme",
            "author_id": "a1",
            "kind": "post",
            "external_id": "p/1",
            "content": "hi",
            "tags": None,
            "metadata": '{"source": "jsonl"}',
            "content_hash": "abc",
            "updated_at": "2026-11-23T03:00:00.123456Z",
        }
    )
    assert row.kind is DocumentKind.POST
    assert row.tags == [] and row.metadata == {"source": "jsonl"}
    assert row.updated_at.year == 2026


def test_topic_names_follow_debezium_naming():
    assert CDC_DOCUMENTS == "twin.cdc.public.documents"
    assert cdc_topic("authors") == "twin.cdc.public.authors"
    assert dead_letter_topic(CDC_DOCUMENTS) == "twin.cdc.public.documents.dlq"


def test_dead_letter_carries_the_error_and_position():
    dl = DeadLetter(
        source_topic="t", partition=1, offset=10, key=None, value="{", error="bad json", attempts=3, consumer_group="g"
    )
    assert DeadLetter.from_bytes(dl.to_bytes()).error == "bad json"
