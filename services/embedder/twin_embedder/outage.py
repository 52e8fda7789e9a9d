"""Which dependency a failure came from, and the consumer's state while it waits one out.

A change that fails because Redis, Qdrant, Feast, the inference service or Kafka is down or hanging is not the
change's fault: the consumer keeps it (no commit, no dead letter), waits with a capped backoff and tries again,
and meanwhile says so on /readyz, /v1/stats and its metrics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


def dependency_of(exc: BaseException, step: str) -> str:
    """'redis', 'qdrant', 'inference', 'kafka', 'feast' or 'pipeline' (anything else raised while applying)."""
    if step in ("publish", "commit"):
        return "kafka"
    module = type(exc).__module__
    for prefix, name in (
        ("redis", "redis"),
        ("qdrant_client", "qdrant"),
        ("httpx", "qdrant"),  # qdrant-client's transport
        ("twin_inference_client", "inference"),
        ("tritonclient", "inference"),
        ("feast", "feast"),
        ("aiokafka", "kafka"),
        ("kafka", "kafka"),
    ):
        if module == prefix or module.startswith(prefix + "."):
            return name
    cause = exc.__cause__ or exc.__context__
    return dependency_of(cause, step) if cause is not None and cause is not exc else "pipeline"


@dataclass
class Waiting:
    """The consumer is holding a batch until `dependency` answers again."""

    dependency: str
    error: str
    since: float  # time.time()
    attempts: int = 1

    def as_dict(self) -> dict:
        return {
            "dependency": self.dependency,
            "error": self.error,
            "since": self.since,
            "seconds": round(time.time() - self.since, 1),
            "attempts": self.attempts,
        }
