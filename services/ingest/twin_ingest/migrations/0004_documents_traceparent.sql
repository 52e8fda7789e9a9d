-- The W3C traceparent of the request that wrote this version of a document. Debezium carries it in the change
-- event like any column, and the embedder continues that trace from it: the one way trace context crosses the
-- database (docs/observability.md). NULL for rows written outside a traced request.
ALTER TABLE documents ADD COLUMN traceparent text;
