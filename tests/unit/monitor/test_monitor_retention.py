"""The schedule's retention pass: the cutoff is `retention_days` before now, the deleted reports' files are removed,
the counts reach /metrics, and the pass runs once per `retention_interval_s` (never when retention is 0)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from twin_monitor.metrics import MonitorMetrics
from twin_monitor.scheduler import ReportScheduler
from twin_monitor.settings import MonitorSettings
from twin_monitor.store import PurgeResult


class RecordingStore:
    """Stands in for PostgreSQL: records the cutoff and answers with a fixed deletion."""

    def __init__(self, files: list[str]):
        self.cutoffs: list[datetime] = []
        self.files = files

    def purge_before(self, cutoff: datetime) -> PurgeResult:
        self.cutoffs.append(cutoff)
        return PurgeResult(windows=2, requests=9, reports=1, feedback=3, report_files=self.files)

    def close_expired(self):
        return []

    def claim_report(self, max_attempts):
        return None

    def unpublished_alerts(self):
        return []


async def no_publish(value: bytes, topic: str, key: bytes) -> None:
    raise AssertionError("nothing to publish")


def scheduler(store, **settings) -> ReportScheduler:
    return ReportScheduler(MonitorSettings(**settings), store, MonitorMetrics(), no_publish)


async def test_purge_cuts_at_the_retention_age_removes_report_files_and_counts(tmp_path):
    files = [tmp_path / "r.html", tmp_path / "r.json"]
    for f in files:
        f.write_text("report")
    store = RecordingStore([str(f) for f in files] + [str(tmp_path / "already-gone.json")])
    s = scheduler(store, retention_days=7)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    await s.purge(now)
    assert store.cutoffs == [now - timedelta(days=7)]
    assert not any(f.exists() for f in files)
    assert s.metrics.registry.get_sample_value("twin_monitor_purged_total", {"kind": "requests"}) == 9
    assert s.metrics.registry.get_sample_value("twin_monitor_purged_total", {"kind": "feedback"}) == 3


@pytest.mark.parametrize(("retention_days", "passes"), [(30, 1), (0, 0)])
async def test_the_schedule_purges_once_per_interval_and_never_when_retention_is_off(retention_days, passes):
    store = RecordingStore([])
    s = scheduler(store, retention_days=retention_days, retention_interval_s=3600)
    for _ in range(3):
        await s.tick()
    assert len(store.cutoffs) == passes
