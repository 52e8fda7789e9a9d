"""Format a window as a one-line summary."""

from kettle.window import LatencyWindow


def summary(window: LatencyWindow) -> str:
    return f"p50={window.percentile(50):.1f}ms p95={window.percentile(95):.1f}ms"
