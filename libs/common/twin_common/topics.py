"""Every Kafka topic name the platform uses, defined once.

The CDC topics follow Debezium's naming: <topic.prefix>.<schema>.<table>.
"""

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
