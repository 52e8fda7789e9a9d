"""Announcing a registered model version on `twin.models.registered`, so running inference servers reload it."""

from __future__ import annotations

from twin_common.events import ModelRegistered
from twin_common.settings import KafkaSettings
from twin_common.topics import MODELS_REGISTERED


def announce(
    name: str,
    version: str,
    alias: str | None,
    run_id: str | None,
    *,
    bootstrap_servers: str | None = None,
    topic: str = MODELS_REGISTERED,
) -> ModelRegistered:
    """Publish a ModelRegistered event (acks=all, waited for) and return it."""
    from kafka import KafkaProducer

    uri = f"models:/{name}@{alias}" if alias else f"models:/{name}/{version}"
    event = ModelRegistered(model_name=name, version=version, alias=alias, run_id=run_id, model_uri=uri)
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers or KafkaSettings().bootstrap_servers, acks="all")
    try:
        producer.send(topic, key=name.encode(), value=event.to_bytes()).get(timeout=30)
    finally:
        producer.close()
    return event
