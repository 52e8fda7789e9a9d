"""Drift and quality monitoring of the request log with Evidently."""
