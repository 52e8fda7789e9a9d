"""kettle: rolling latency percentiles."""

from kettle.window import LatencyWindow

__all__ = ["LatencyWindow"]
