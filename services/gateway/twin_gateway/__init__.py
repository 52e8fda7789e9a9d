"""The front door: gRPC and REST API with guardrails, caching, routing and RAG."""
