"""The feature pipeline: CDC events to cleaned, chunked, embedded chunks in Qdrant and Feast."""
