"""Guardrails of the LLM Twin gateway: input rails, the retrieval rail and output rails (see docs/guardrails.md)."""
