"""The platform's topic catalogue: each Kafka topic, the event model its messages carry, who produces and who
consumes it. `scripts/gen_asyncapi.py` turns this table, the event models and the FastStream apps into the
AsyncAPI document `docs/asyncapi.json`; a unit test keeps the document, this table and `twin_common.topics`
in step (a topic added there without an entry here fails it).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from twin_common import events, topics


@dataclass(frozen=True)
class TopicEntry:
    topic: str
    event: type[BaseModel]
    summary: str
    key: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]


_DEBEZIUM = (
    "Debezium PostgreSQL connector (services/cdc): row changes, JSON without schemas; a tombstone follows a delete"
)

CATALOGUE: tuple[TopicEntry, ...] = (
    TopicEntry(
        topics.CDC_DOCUMENTS,
        events.DebeziumEnvelope,
        f"Changes of public.documents. {_DEBEZIUM}.",
        'the row\'s primary key {"id": uuid}',
        ("cdc (Debezium on Kafka Connect, or `twin cdc embedded`)",),
        ("embedder (FastStream, group twin-embedder)",),
    ),
    TopicEntry(
        topics.CDC_AUTHORS,
        events.DebeziumEnvelope,
        f"Changes of public.authors. {_DEBEZIUM}.",
        'the row\'s primary key {"id": uuid}',
        ("cdc (Debezium on Kafka Connect, or `twin cdc embedded`)",),
        (),
    ),
    TopicEntry(
        topics.CDC_TENANTS,
        events.DebeziumEnvelope,
        f"Changes of public.tenants. {_DEBEZIUM}.",
        'the row\'s primary key {"id": text}',
        ("cdc (Debezium on Kafka Connect, or `twin cdc embedded`)",),
        (),
    ),
    TopicEntry(
        topics.DOCUMENTS_INDEXED,
        events.DocumentIndexed,
        "A document change applied to the vector store and the feature store.",
        "the document id",
        ("embedder",),
        ("trainer (continuous training)", "gateway semantic cache (invalidation by source)"),
    ),
    TopicEntry(
        topics.MODELS_REGISTERED,
        events.ModelRegistered,
        "A model version registered in MLflow, or an alias moved to it.",
        "the registered model's name",
        ("trainer", "`twin inference register`"),
        ("inference (registry watcher, every replica)", "monitor"),
    ),
    TopicEntry(
        topics.REQUESTS,
        events.RequestLogged,
        "One event per question answered (or refused) by the gateway; text in its masked form.",
        "the tenant id",
        ("gateway (idempotent producer, off the request path)",),
        ("monitor (drift and quality)",),
    ),
    TopicEntry(
        topics.FEEDBACK,
        events.FeedbackGiven,
        "A user's rating of an answer, with the question and answer it rates.",
        "the tenant id",
        ("gateway (Feedback)",),
        ("monitor", "trainer (preference pairs)"),
    ),
    TopicEntry(
        topics.DRIFT_ALERTS,
        events.DriftAlert,
        "A drift test failed on a monitoring window (one per metric per window).",
        "the tenant id",
        ("monitor",),
        ("trainer (retraining trigger)",),
    ),
    TopicEntry(
        topics.dead_letter_topic(topics.CDC_DOCUMENTS),
        events.DeadLetter,
        "Poison CDC messages the embedder could not apply after its retries, kept with their error.",
        "the original message's key",
        ("embedder",),
        ("operators (`twin dlq`)",),
    ),
)

# Named in twin_common.topics but not produced by anything yet.
RESERVED: tuple[str, ...] = (topics.CHUNKS,)
