"""The Feast sink pushes document features online (Redis) and offline (file), and historical retrieval is
point-in-time correct: each entity timestamp sees the version that was current then."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import redis

from twin_common.settings import RedisSettings
from twin_embedder.feast_sink import FeastFeatureSink, open_store
from twin_embedder.features import DocumentFeatures


def test_push_online_and_offline_and_point_in_time_retrieval(local_stack, tmp_path):
    project = f"twintest{uuid.uuid4().hex[:10]}"
    store = open_store(project, tmp_path / "feast")
    try:
        sink = FeastFeatureSink(store)
        jan, feb = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
        sink.push([DocumentFeatures("acme", "d1", "a1", 2, 100, "en", jan),
                   DocumentFeatures("acme", "d2", "a1", 1, 10, None, jan)])
        sink.push([DocumentFeatures("acme", "d1", "a1", 5, 300, "en", feb),
                   DocumentFeatures("acme", "d2", "", 0, 0, None, None, deleted=True)])  # deletes are not pushed

        online = store.get_online_features(
            features=["document_stats:chunk_count", "document_stats:token_count", "document_stats:language"],
            entity_rows=[{"document_id": "d1"}, {"document_id": "d2"}]).to_dict()
        assert online["chunk_count"] == [5, 1] and online["token_count"] == [300, 10]
        assert online["language"] == ["en", ""]

        entities = pd.DataFrame({"document_id": ["d1", "d1", "d1"],
                                 "event_timestamp": [jan - timedelta(days=1), jan + timedelta(days=1),
                                                     feb + timedelta(days=1)]})
        history = store.get_historical_features(entity_df=entities,
                                                features=["document_stats:chunk_count"]).to_df()
        history = history.sort_values("event_timestamp")
        after = history[history["event_timestamp"] > jan]
        assert after["chunk_count"].tolist() == [2, 5]  # January sees the January version, February the new one
        before = history[history["event_timestamp"] < jan]
        assert before["chunk_count"].isna().all()  # nothing known before January (row kept empty or left out)
    finally:
        store.teardown()  # removes this project's keys from Redis
    client = redis.Redis.from_url(RedisSettings().url)
    assert not [k for k in client.scan_iter(count=1000) if project.encode() in k]
