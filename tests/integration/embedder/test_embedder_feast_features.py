"""The Feast sink pushes document and author features online (Redis) and offline (file); historical retrieval
is point-in-time correct; a delete shows online as deleted; author aggregates survive replays and author moves."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import redis
from twin_common.settings import RedisSettings
from twin_embedder.feast_sink import FeastFeatureSink, open_ledger, open_store
from twin_embedder.features import DocumentFeatures, StyleStats

JAN, FEB, MAR = (datetime(2026, m, 1, tzinfo=UTC) for m in (1, 2, 3))


@pytest.fixture
def feast(local_stack, tmp_path):
    project = f"twintest{uuid.uuid4().hex[:10]}"
    store = open_store(project, tmp_path / "feast")
    ledger = open_ledger(project)
    yield project, store, ledger
    store.teardown()  # removes this project's feature keys from Redis
    ledger.clear()
    client = redis.Redis.from_url(RedisSettings().url)
    assert not [k for k in client.scan_iter(count=1000) if project.encode() in k]


def _doc(doc_id, author, chunks, tokens, when, words=0, deleted=False, lsn=None):
    style = StyleStats(words, max(1, words // 10), 10.0, 0.5) if words else StyleStats()
    return DocumentFeatures(
        "acme",
        doc_id,
        author,
        chunks,
        tokens,
        "en",
        when,
        deleted=deleted,
        style=style,
        committed_at=when,
        source_lsn=lsn,
    )


def _online(store, view, features, key, ids):
    return store.get_online_features(
        features=[f"{view}:{f}" for f in features], entity_rows=[{key: i} for i in ids]
    ).to_dict()


def test_documents_online_offline_point_in_time_and_delete(feast):
    _, store, _ = feast
    sink = FeastFeatureSink(store)
    sink.push([_doc("d1", "a1", 2, 100, JAN), _doc("d2", "a1", 1, 10, JAN)])
    sink.push([_doc("d1", "a1", 5, 300, FEB), _doc("d2", "a1", 0, 0, FEB, deleted=True)])

    online = _online(store, "document_stats", ["chunk_count", "token_count", "deleted"], "document_id", ["d1", "d2"])
    assert online["chunk_count"] == [5, 0] and online["token_count"] == [300, 0]
    assert online["deleted"] == [False, True]

    entities = pd.DataFrame(
        {
            "document_id": ["d1", "d1", "d1", "d2", "d2"],
            "event_timestamp": [
                JAN - timedelta(days=1),
                JAN + timedelta(days=1),
                FEB + timedelta(days=1),
                JAN + timedelta(days=1),
                FEB + timedelta(days=1),
            ],
        }
    )
    history = store.get_historical_features(
        entity_df=entities, features=["document_stats:chunk_count", "document_stats:deleted"]
    ).to_df()
    history = history.sort_values(["document_id", "event_timestamp"])
    d1 = history[history["document_id"] == "d1"]
    assert d1[d1["event_timestamp"] < JAN]["chunk_count"].isna().all()  # nothing known before January
    d1_known = d1[d1["event_timestamp"] > JAN]
    assert d1_known["chunk_count"].tolist() == [2, 5]  # January sees the January version, February the new one
    d2 = history[history["document_id"] == "d2"]
    assert d2["deleted"].tolist() == [False, True]  # alive in January, deleted in February

    sink.push([_doc("d1", "a1", 9, 900, JAN)])  # a replay of an older version changes nothing online
    assert _online(store, "document_stats", ["chunk_count"], "document_id", ["d1"])["chunk_count"] == [5]


def test_author_features_follow_adds_updates_deletes_and_moves(feast):
    _, store, ledger = feast
    sink = FeastFeatureSink(store, ledger)
    sink.push([_doc("d1", "a1", 2, 100, JAN, words=80), _doc("d2", "a1", 1, 50, JAN, words=40)])
    authors = _online(
        store, "author_stats", ["document_count", "token_count", "mean_document_tokens"], "author_id", ["a1"]
    )
    assert authors["document_count"] == [2] and authors["token_count"] == [150]
    assert authors["mean_document_tokens"] == [75.0]

    # a redelivered batch is harmless: the ledger sets entries, it never increments
    sink.push([_doc("d1", "a1", 2, 100, JAN, words=80), _doc("d2", "a1", 1, 50, JAN, words=40)])
    assert _online(store, "author_stats", ["document_count"], "author_id", ["a1"])["document_count"] == [2]

    # d2 changes author, d1 is deleted
    sink.push([_doc("d2", "a2", 1, 70, FEB, words=60), _doc("d1", "a1", 0, 0, MAR, deleted=True)])
    authors = _online(store, "author_stats", ["document_count", "token_count"], "author_id", ["a1", "a2"])
    assert authors["document_count"] == [0, 1] and authors["token_count"] == [0, 70]
    assert ledger.features("acme", "a2").mean_sentence_words == pytest.approx(10.0)


def test_changes_of_one_commit_are_ordered_by_lsn_not_dropped_as_ties(feast):
    """Two changes of a document in one transaction share its commit time. When they arrive in different
    pushes, the later one (higher LSN) must still win online; a replay of the earlier one must not."""
    _, store, _ = feast
    sink = FeastFeatureSink(store)
    sink.push([_doc("d1", "a1", 1, 10, JAN, lsn=100)])
    sink.push([_doc("d1", "a1", 2, 20, JAN, lsn=200)])  # same commit, later change
    assert _online(store, "document_stats", ["chunk_count"], "document_id", ["d1"])["chunk_count"] == [2]
    sink.push([_doc("d1", "a1", 1, 10, JAN, lsn=100)])  # replay of the earlier change
    assert _online(store, "document_stats", ["chunk_count"], "document_id", ["d1"])["chunk_count"] == [2]
    sink.push([_doc("d1", "a1", 3, 30, JAN, lsn=300), _doc("d2", "a1", 1, 5, JAN, lsn=310)])  # a third change
    online = _online(store, "document_stats", ["chunk_count"], "document_id", ["d1", "d2"])
    assert online["chunk_count"] == [3, 1]
    sink.push([_doc("d1", "a1", 0, 0, JAN, deleted=True, lsn=400)])  # deleted in the same commit
    assert _online(store, "document_stats", ["deleted"], "document_id", ["d1"])["deleted"] == [True]
    sink.push([_doc("d1", "a1", 5, 50, FEB, lsn=500)])  # a later commit: its own, later time
    assert _online(store, "document_stats", ["chunk_count"], "document_id", ["d1"])["chunk_count"] == [5]
