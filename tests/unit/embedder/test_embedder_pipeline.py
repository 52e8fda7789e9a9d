"""ChangePipeline: create/update/delete/tombstone semantics, batch collapsing, idempotent replays, bad input."""

from __future__ import annotations

import pytest
from twin_common.events import DebeziumEnvelope
from twin_embedder.pipeline import InvalidChange


def _row(doc_id="d1", content="short text", content_hash="h1", tenant="acme"):
    return {
        "id": doc_id,
        "tenant_id": tenant,
        "author_id": "a1",
        "kind": "article",
        "external_id": doc_id,
        "title": "",
        "content": content,
        "content_hash": content_hash,
        "tags": None,
        "metadata": "{}",
    }


def _event(op, row, lsn=1):
    before, after = (row, None) if op == "d" else (None, row)
    return DebeziumEnvelope.model_validate({"op": op, "before": before, "after": after, "source": {"lsn": lsn}})


def _long(word: str, n: int) -> str:
    return " ".join(f"{word}{i} is a sentence that is long enough." for i in range(n))


def test_create_update_delete_leave_exactly_the_current_chunks(pipeline):
    store = pipeline.store
    long_row = _row(content=_long("bee", 120), content_hash="h1")
    [created] = pipeline.apply(_event("c", long_row))
    assert created.chunk_count >= 2 and not created.skipped
    assert store.document_point_ids("acme", "d1") == pipeline.expected_point_ids(pipeline_row(long_row))

    [shorter] = pipeline.apply(_event("u", _row(content="one line", content_hash="h2")))
    assert shorter.chunk_count == 1
    assert store.document_point_ids("acme", "d1") == pipeline.expected_point_ids(pipeline_row(_row(content="one line")))
    [hit] = store.retrieve(sorted(store.document_point_ids("acme", "d1")))
    assert hit.payload["content_hash"] == "h2"

    [deleted] = pipeline.apply(_event("d", _row(content="one line", content_hash="h2")))
    assert deleted.chunk_count == 0 and store.document_point_ids("acme", "d1") == set()
    assert pipeline.apply(None) == []  # tombstone
    assert [f.deleted for f in pipeline.features.pushed] == [False, False, True]


def pipeline_row(raw):
    from twin_common.documents import DocumentRow

    return DocumentRow.model_validate(raw)


def test_replay_of_the_same_version_is_skipped_without_embedding(pipeline):
    event = _event("c", _row(content=_long("ant", 60)))
    pipeline.apply(event)
    embedded = len(pipeline.indexer.embedder.embedded)
    [again] = pipeline.apply(event)
    assert again.skipped and len(pipeline.indexer.embedder.embedded) == embedded
    # a lost chunk (crash between upsert and stale removal, or a manual delete) makes it re-index
    some_id = sorted(pipeline.store.document_point_ids("acme", "d1"))[0]
    pipeline.store.delete_points([some_id])
    [repaired] = pipeline.apply(event)
    assert not repaired.skipped and some_id in pipeline.store.document_point_ids("acme", "d1")


def test_batch_keeps_only_the_last_change_per_document(pipeline):
    results = pipeline.apply_batch(
        [
            _event("c", _row("d1", "first", "h1")),
            _event("c", _row("d2", "other", "x1")),
            _event("u", _row("d1", "second", "h2")),
            _event("d", _row("d2", "other", "x1")),
            None,
        ]
    )
    assert [(r.document_id, r.op.value, r.content_hash) for r in results] == [("d2", "d", None), ("d1", "u", "h2")]
    assert pipeline.indexer.embedder.embedded == ["second"]  # nothing embedded for superseded versions
    assert pipeline.store.document_point_ids("acme", "d2") == set()


def test_tenants_are_kept_apart(pipeline):
    pipeline.apply_batch(
        [_event("c", _row("d1", "acme text")), _event("c", _row("d9", "globex text", tenant="globex"))]
    )
    pipeline.apply(_event("d", _row("d9", tenant="acme")))  # same id under the wrong tenant removes nothing
    assert pipeline.store.document_point_ids("globex", "d9")


def test_bad_changes_raise_a_clear_error(pipeline):
    with pytest.raises(InvalidChange, match="DocumentRow"):
        pipeline.apply(DebeziumEnvelope.model_validate({"op": "c", "after": {"id": "x"}}))
    with pytest.raises(InvalidChange, match="no row image"):
        pipeline.apply(DebeziumEnvelope.model_validate({"op": "u", "after": None}))
    with pytest.raises(InvalidChange, match="tenant_id"):
        pipeline.apply(DebeziumEnvelope.model_validate({"op": "d", "before": {"id": "x"}}))
    with pytest.raises(InvalidChange, match="truncate"):
        pipeline.apply(DebeziumEnvelope.model_validate({"op": "t"}))
