"""Every Kafka topic name the platform uses, defined once.

The CDC topics follow Debezium's naming: <topic.prefix>.<schema>.<table>.
"""

from dataclasses import dataclass

CDC_TOPIC_PREFIX = "twin.cdc"
CDC_SCHEMA = "public"


def cdc_topic(table: str, schema: str = CDC_SCHEMA) -> str:
    return f"{CDC_TOPIC_PREFIX}.{schema}.{table}"


CDC_DOCUMENTS = cdc_topic("documents")
CDC_AUTHORS = cdc_topic("authors")
CDC_TENANTS = cdc_topic("tenants")

CHUNKS = "twin.chunks"
DOCUMENTS_INDEXED = "twin.documents.indexed"
MODELS_REGISTERED = "twin.models.registered"
REQUESTS = "twin.requests"
FEEDBACK = "twin.feedback"
DRIFT_ALERTS = "twin.drift.alerts"

DEAD_LETTER_SUFFIX = ".dlq"


def dead_letter_topic(source_topic: str) -> str:
    """The dead-letter topic paired with a source topic (poison messages go there with their error)."""
    return f"{source_topic}{DEAD_LETTER_SUFFIX}"


# ------------------------------------------------------------------------------------------------------------
# How each topic is created on a cluster. The chart's KafkaTopic objects are generated from this one list
# (charts/generate_topics.py writes charts/twin/files/topics.yaml; tests/unit/deploy checks it is current), so a
# topic added above and not declared here fails the deploy tests.

CDC_HEARTBEAT = f"__debezium-heartbeat.{CDC_TOPIC_PREFIX}"  # Debezium's heartbeats (heartbeat.interval.ms)

DAY_MS = 86_400_000


@dataclass(frozen=True)
class TopicSpec:
    """One topic as the cluster should hold it. Replication comes from the cluster size (the chart's
    `default.replication.factor`), not from here."""

    name: str
    partitions: int  # the ceiling of a consumer group's parallelism (KEDA scales consumers up to it)
    retention_ms: int | None = None  # None: the broker's default (7 days); -1: forever
    compacted: bool = False  # keyed state (a row per primary key): keep the newest record per key
    dead_letter: bool = False  # a consumer of it dead-letters poison into dead_letter_topic(name)


TOPIC_SPECS: tuple[TopicSpec, ...] = (
    # Debezium change streams: keyed by the row's primary key, tombstones after deletes -> compacted state.
    TopicSpec(CDC_TENANTS, partitions=1, compacted=True),
    TopicSpec(CDC_AUTHORS, partitions=3, compacted=True),
    TopicSpec(CDC_DOCUMENTS, partitions=6, compacted=True, dead_letter=True),
    TopicSpec(CDC_HEARTBEAT, partitions=1, retention_ms=DAY_MS),
    # Events (facts that happened): kept for a while, then deleted.
    TopicSpec(CHUNKS, partitions=6, retention_ms=7 * DAY_MS),
    TopicSpec(DOCUMENTS_INDEXED, partitions=3, retention_ms=7 * DAY_MS, dead_letter=True),
    TopicSpec(MODELS_REGISTERED, partitions=1, retention_ms=-1, dead_letter=True),
    TopicSpec(REQUESTS, partitions=6, retention_ms=7 * DAY_MS, dead_letter=True),
    TopicSpec(FEEDBACK, partitions=3, retention_ms=90 * DAY_MS, dead_letter=True),
    TopicSpec(DRIFT_ALERTS, partitions=1, retention_ms=90 * DAY_MS, dead_letter=True),
)


def all_topic_specs() -> tuple[TopicSpec, ...]:
    """Every topic the platform writes, dead-letter topics included (one partition, kept 30 days)."""
    dead_letters = tuple(
        TopicSpec(dead_letter_topic(spec.name), partitions=1, retention_ms=30 * DAY_MS)
        for spec in TOPIC_SPECS
        if spec.dead_letter
    )
    return TOPIC_SPECS + dead_letters
