"""Prometheus metrics of the monitor (served on /metrics): every drift score of the newest report per segment,
alerts, reports, and the consumer's progress."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

DRIFT_LABELS = ["tenant", "segment", "metric", "method"]


class MonitorMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.drift_score = Gauge(
            "twin_monitor_drift_score",
            "Drift score of the newest report of the segment (p-value, ROC AUC, MMD... as the method defines)",
            DRIFT_LABELS,
            registry=r,
        )
        self.drift_threshold = Gauge(
            "twin_monitor_drift_threshold", "The threshold the drift score was tested against", DRIFT_LABELS, registry=r
        )
        self.drift_detected = Gauge(
            "twin_monitor_drift_detected",
            "1 when the newest report's test failed (drift), else 0",
            DRIFT_LABELS,
            registry=r,
        )
        self.alerts = Counter(
            "twin_monitor_alerts_total", "DriftAlert events raised (one per metric per window)", ["metric"], registry=r
        )
        self.alerts_published = Counter(
            "twin_monitor_alerts_published_total", "DriftAlert events published to Kafka", registry=r
        )
        self.reports = Counter("twin_monitor_reports_total", "Reports built", ["trigger", "outcome"], registry=r)
        self.report_seconds = Histogram(
            "twin_monitor_report_seconds",
            "Time to build one report (Evidently runs and files)",
            buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
            registry=r,
        )
        self.events = Counter(
            "twin_monitor_events_total", "Events consumed", ["topic", "outcome"], registry=r
        )  # outcome: stored | duplicate | ignored | dead_letter
        self.dead_letters = Counter(
            "twin_monitor_dead_letters_total", "Messages sent to a dead-letter topic", ["topic"], registry=r
        )
        self.db_retries = Counter(
            "twin_monitor_database_retries_total", "Batch writes retried while PostgreSQL was unavailable", registry=r
        )
        self.batch_seconds = Histogram("twin_monitor_batch_seconds", "Time to store one consumed batch", registry=r)
        self.windows_closed = Counter(
            "twin_monitor_windows_closed_total",
            "Windows closed (by the consumer or by the schedule)",
            ["by"],
            registry=r,
        )

        self.purged = Counter(
            "twin_monitor_purged_total",
            "Rows deleted by retention (windows, requests, reports, feedback)",
            ["kind"],
            registry=r,
        )

    def record_results(self, tenant: str, segment: str, results: list[dict]) -> None:
        """Set the gauges from one report's test results (skipped tests leave no score)."""
        for result in results:
            if result.get("skipped") or result.get("score") is None:
                continue
            labels = (tenant, segment, result["metric"], str(result.get("method") or ""))
            self.drift_score.labels(*labels).set(result["score"])
            if result.get("threshold") is not None:
                self.drift_threshold.labels(*labels).set(result["threshold"])
            self.drift_detected.labels(*labels).set(1 if result["drifted"] else 0)
