"""A fixed-size window of latency samples in milliseconds."""

from collections import deque


class LatencyWindow:
    def __init__(self, size: int = 1000):
        if size <= 0:
            raise ValueError("size must be positive")
        self._samples: deque[float] = deque(maxlen=size)

    def add(self, millis: float) -> None:
        self._samples.append(millis)

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the samples in the window."""
        if not self._samples:
            raise ValueError("no samples yet")
        ordered = sorted(self._samples)
        rank = max(1, round(p / 100 * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1]
