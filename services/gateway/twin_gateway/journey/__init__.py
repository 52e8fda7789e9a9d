"""Document journeys: where each document of a tenant is on its way from PostgreSQL to the index.

    stored (a row in PostgreSQL) -> change captured (Debezium put it on the CDC topic) -> indexed (the embedder's
    DocumentIndexed event, or its chunks found in the vector store)

`tracker.JourneyTracker` folds the CDC topic and the DocumentIndexed topic into Redis (one hash per document);
`status.journey()` combines that with the PostgreSQL row and, when needed, the index itself.
"""
