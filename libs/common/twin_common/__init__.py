"""Shared contracts and plumbing for the LLM Twin services."""
