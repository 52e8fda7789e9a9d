"""Settings of the monitor service (environment variables TWIN_*; defaults fit the local stack)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from twin_common.settings import (
    LOCAL_MONITOR_PORT,
    InternalAuthSettings,
    KafkaSettings,
    PostgresSettings,
    ServiceSettings,
    local_env_file,
    repo_root,
)
from twin_common.topics import DRIFT_ALERTS, FEEDBACK, MODELS_REGISTERED, REQUESTS

SegmentField = Literal["route", "model", "model_version", "surface"]


def _config(env_prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=env_prefix, extra="ignore", env_file=local_env_file())


class WindowSettings(BaseSettings):
    """How requests are grouped (TWIN_WINDOW_*): a reference, then tumbling current windows closed by count or time."""

    model_config = _config("TWIN_WINDOW_")

    reference_size: int = Field(default=500, ge=2)  # requests a fresh reference collects
    reference_seconds: float = 0.0  # or closes this long after its first request, once it holds min_rows (0: off)
    size: int = Field(default=500, ge=2)  # requests per current window
    seconds: float = 3600.0  # a current window also closes this long after its first request (0: off)
    min_rows: int = Field(default=30, ge=2)  # fewer rows than this: the window's report is skipped


class DriftSettings(BaseSettings):
    """Which drift test each kind of column gets (TWIN_DRIFT_*; Evidently stattest names) and when a test fails.

    p-value tests (ks, chisquare, ...) fail below `alpha`, divided by the number of tests in the report when
    `bonferroni` is on, so a window of unchanged traffic raises an alert with probability about `alpha` overall
    rather than per column. Distance methods (wasserstein, jensenshannon, psi, ...) use `*_threshold` instead.
    """

    model_config = _config("TWIN_DRIFT_")

    numerical_method: str = "ks"
    numerical_threshold: float | None = None  # None: alpha (p-value methods)
    categorical_method: str = "chi2_homogeneity"  # registered by twin_monitor.drift
    categorical_threshold: float | None = None
    alpha: float = 0.05
    bonferroni: bool = True
    # Domain classifier on raw text (TF-IDF + linear model): drift when its ROC AUC exceeds this.
    text_method: str = "abs_text_content_drift"
    text_threshold: float = 0.7
    # Query embeddings: a classifier on the embeddings (ROC AUC) and the maximum mean discrepancy.
    embedding_model_threshold: float = 0.65
    embedding_mmd_threshold: float = 0.015
    embedding_max_rows: int = Field(default=500, ge=10)  # per side: embeddings are sampled to this many rows
    embedding_plot_rows: int = Field(default=200, ge=10)  # per side, for the page's t-SNE map only
    # Phrases that mark a refusal or an "I don't know" answer (case-insensitive).
    refusal_markers: list[str] = Field(
        default_factory=lambda: [
            "i don't know",
            "i do not know",
            "i cannot answer",
            "i can't answer",
            "not in the context",
            "no information",
            "i'm not sure",
            "i am unable",
        ]
    )
    # Threads for BLAS/OpenMP inside a report (t-SNE, kernels): more threads than cores slows it tenfold.
    threads: int = Field(default=1, ge=1)


class MonitorSettings(ServiceSettings):
    service_name: str = "twin-monitor"
    http_port: int = LOCAL_MONITOR_PORT
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    pg: PostgresSettings = Field(default_factory=PostgresSettings)
    auth: InternalAuthSettings = Field(default_factory=InternalAuthSettings)  # TWIN_SERVICE_TOKEN: admin access
    migrate_on_start: bool = True

    # What it reads and writes.
    requests_topic: str = REQUESTS
    feedback_topic: str = FEEDBACK
    models_topic: str = MODELS_REGISTERED
    alerts_topic: str = DRIFT_ALERTS
    group_id: str = "twin-monitor"

    # Consumption: batch subscribers; a failing database is waited out (retried forever), poison dead-lettered.
    max_records: int = 500
    batch_timeout_ms: int = 200
    fetch_max_wait_ms: int = 100
    backoff_s: float = 0.5
    max_backoff_s: float = 10.0
    lag_interval_s: float = 5.0

    # Windows and segments.
    segment_by: list[SegmentField] = Field(default_factory=lambda: ["route"])
    window: WindowSettings = Field(default_factory=WindowSettings)
    # A ModelRegistered event moving one of these aliases resets the reference of the segments serving that model.
    pin_on_aliases: list[str] = Field(default_factory=lambda: ["champion"])

    # Reports.
    drift: DriftSettings = Field(default_factory=DriftSettings)
    reports_dir: Path = Field(default_factory=lambda: repo_root() / ".local" / "monitor" / "reports")
    schedule_reports: bool = True  # false: this replica only consumes (another one builds the reports)
    schedule_interval_s: float = 5.0  # how often closed windows are looked for, time windows closed, alerts sent
    report_max_attempts: int = 3
    report_lease_s: float = 600.0  # a report claimed by a replica that died is taken over after this long
    report_workers: int = Field(default=1, ge=0, le=1)  # 1: reports in a worker process; 0: in a thread

    # Retention: windows closed longer ago than this go, with their requests (prompts and answers), reports, report
    # files and alerts, unless still in use (a reference, a window waiting for its report); 0 keeps everything.
    retention_days: float = Field(default=30.0, ge=0)
    retention_interval_s: float = Field(default=3600.0, gt=0)  # how often the schedule purges

    def dsn(self) -> str:
        return self.pg.dsn()
