"""The local stack is real: Redis answers, MLflow keeps runs, Kafka keeps committed offsets across a restart."""

from __future__ import annotations

import time
import uuid

import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from twin_common.settings import KafkaSettings, MlflowSettings, RedisSettings


def test_redis_answers_and_expires_keys():
    client = redis.Redis.from_url(RedisSettings().url)
    assert client.ping() is True
    key = f"smoke:{uuid.uuid4().hex}"
    client.set(key, "v", px=300)
    assert client.get(key) == b"v"
    time.sleep(0.5)
    assert client.get(key) is None


def test_mlflow_accepts_and_returns_a_run(tmp_path):
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(MlflowSettings().tracking_uri)
    experiment = mlflow.set_experiment(f"smoke-{uuid.uuid4().hex[:8]}")
    artifact = tmp_path / "note.txt"
    artifact.write_text("hello registry")
    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.001)
        mlflow.log_metric("loss", 0.5, step=1)
        mlflow.log_artifact(str(artifact))
    stored = MlflowClient().get_run(run.info.run_id)
    assert stored.info.experiment_id == experiment.experiment_id
    assert stored.data.params == {"lr": "0.001"} and stored.data.metrics == {"loss": 0.5}
    downloaded = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="note.txt", dst_path=str(tmp_path / "dl")
    )
    assert open(downloaded).read() == "hello registry"


def _consume(topic: str, group: str, expected: int, timeout_s: float = 30) -> list[int]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=KafkaSettings().bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    values: list[int] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(values) < expected and time.monotonic() < deadline:
            for message in consumer:
                values.append(int(message.value))
                if len(values) == expected:
                    break
        consumer.commit()
        return values
    finally:
        consumer.close()


def test_committed_offsets_survive_a_broker_restart(local_stack):
    bootstrap = KafkaSettings().bootstrap_servers
    topic, group = f"smoke-restart-{uuid.uuid4().hex[:8]}", f"smoke-group-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    for i in range(20):
        producer.send(topic, str(i).encode())
    producer.flush()
    producer.close()

    assert _consume(topic, group, expected=10) == list(range(10))

    local_stack.restart("kafka")

    # The committed offset is still 10 on the restarted broker, and the group resumes exactly there.
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        assert consumer.committed(TopicPartition(topic, 0)) == 10
    finally:
        consumer.close()
    assert _consume(topic, group, expected=10) == list(range(10, 20))
    # Kafka Connect (a client of the broker) is healthy again after the restart.
    assert local_stack.component("connect").healthy()
