"""Every Kafka topic of twin_common.topics exists in the cluster as a Strimzi KafkaTopic, generated from that one
list (charts/generate_topics.py -> charts/twin/files/topics.yaml), so the chart and the code cannot drift."""

from __future__ import annotations

import subprocess
import sys

from deploy_support import REPO, find
from twin_common import topics


def declared_topic_names() -> set[str]:
    """Every topic name the module defines: its upper-case string constants that look like topics, and the
    dead-letter topic of each topic a consumer dead-letters."""
    names = {
        value
        for key, value in vars(topics).items()
        if key.isupper() and isinstance(value, str) and "." in value and key not in ("CDC_TOPIC_PREFIX",)
    }
    names -= {topics.DEAD_LETTER_SUFFIX}
    return names | {topics.dead_letter_topic(spec.name) for spec in topics.TOPIC_SPECS if spec.dead_letter}


def test_every_topic_has_a_spec():
    specified = {spec.name for spec in topics.all_topic_specs()}
    assert declared_topic_names() <= specified, "a topic of twin_common.topics without a TopicSpec"
    assert len(specified) == len(topics.all_topic_specs()), "a topic declared twice"


def test_every_topic_has_a_kafka_topic(profile):
    objects = profile("defaults")
    kafka_topics = {t["spec"]["topicName"]: t for t in find(objects, "KafkaTopic")}
    assert set(kafka_topics) == {spec.name for spec in topics.all_topic_specs()}
    assert declared_topic_names() <= set(kafka_topics)
    cluster = find(objects, "Kafka")[0]["metadata"]["name"]
    for spec in topics.all_topic_specs():
        topic = kafka_topics[spec.name]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == cluster
        assert topic["spec"]["partitions"] == spec.partitions
        config = topic["spec"].get("config", {})
        assert (config.get("cleanup.policy") == "compact") == spec.compacted
        assert config.get("retention.ms") == (None if spec.retention_ms is None else str(spec.retention_ms))
    # Debezium's row topics are keyed state; dead letters keep their evidence for a month
    assert kafka_topics[topics.CDC_DOCUMENTS]["spec"]["config"]["cleanup.policy"] == "compact"
    assert kafka_topics[topics.dead_letter_topic(topics.CDC_DOCUMENTS)]["spec"]["partitions"] == 1


def test_the_generated_topic_file_is_current():
    result = subprocess.run(
        [sys.executable, str(REPO / "charts" / "generate_topics.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_the_cdc_topics_are_the_ones_debezium_writes(profile):
    """Debezium writes <topic.prefix>.<schema>.<table> and its heartbeats: all declared, so nothing relies on
    topic auto-creation (off in the chart's brokers)."""
    from twin_cdc.connector import SOURCE_TABLES, connector_config

    config = connector_config()
    written = {f"{config['topic.prefix']}.public.{table}" for table in SOURCE_TABLES}
    written.add(f"__debezium-heartbeat.{config['topic.prefix']}")
    assert written <= {t["spec"]["topicName"] for t in find(profile("defaults"), "KafkaTopic")}
    assert config["topic.creation.default.replication.factor"] == "-1"  # the broker's, derived from the cluster
