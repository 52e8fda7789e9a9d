"""A tiny cross-encoder trains for a few steps, is registered in the real MLflow, and comes back from the
registry scoring a relevant passage above an irrelevant one."""

import uuid

import pytest
from twin_common.registry import download_hf_model, log_hf_model
from twin_search.rerank import CrossEncoderReranker
from twin_trainer.reranker.pairs import Pair
from twin_trainer.reranker.train import TrainSettings, minilm_backbone, train_cross_encoder


@pytest.fixture
def registered_name():
    name = f"test-rerank-{uuid.uuid4().hex[:8]}"
    yield name
    from mlflow.tracking import MlflowClient
    from twin_common.settings import MlflowSettings

    uri = MlflowSettings().tracking_uri
    MlflowClient(uri, uri).delete_registered_model(name)


def test_trained_reranker_round_trips_through_the_registry(tmp_path, registered_name):
    topics = [
        ("how do consumers resume after a crash", "Kafka consumers resume from their committed offsets."),
        ("what does debezium read", "Debezium reads the PostgreSQL write-ahead log through pgoutput."),
        ("how are vectors indexed", "Qdrant indexes dense vectors in an HNSW graph."),
    ]
    pairs = []
    for i, (query, passage) in enumerate(topics):
        pairs.append(Pair(f"q{i}", query, f"d{i}", passage, 1.0))
        for j, (_, other) in enumerate(topics):
            if j != i:
                pairs.append(Pair(f"q{i}", query, f"d{j}", other, 0.0))
    figures = train_cross_encoder(
        pairs * 6,
        minilm_backbone(),
        tmp_path / "model",
        TrainSettings(batch_size=6, learning_rate=1e-4, max_length=64, warmup_fraction=0.0),
    )
    assert figures["train_loss_last20"] < figures["train_loss_first"]

    info = log_hf_model(tmp_path / "model", registered_name, alias="champion", metrics={"ok": 1.0})
    assert info.task == "rerank" and info.alias == "champion" and info.version == "1"
    path, resolved = download_hf_model(registered_name, "champion", cache_dir=tmp_path / "cache")
    assert resolved.version == "1"
    reranker = CrossEncoderReranker(path)
    for i, (query, passage) in enumerate(topics):
        others = [p for j, (_, p) in enumerate(topics) if j != i]
        scores = reranker.score(query, [passage, *others])
        assert scores[0] > max(scores[1:]), (query, scores)
