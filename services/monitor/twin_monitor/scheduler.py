"""Reports off the request and consumer paths: a loop that closes windows whose time is up, builds the reports of
closed windows (in a worker process), publishes their alerts and, once per `retention_interval_s`, deletes what is
older than `retention_days`; on-demand reports go through the same worker.

Alerts use an outbox: a report's alerts are committed with the report (one per metric per window, deterministic
ids), then published to `twin.drift.alerts` and marked; a crash in between publishes them again with the same
alert id and event id, so consumers can drop the repeat.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime, timedelta
from pathlib import Path

from twin_common.events import DriftAlert
from twin_common.logs import setup_logging

from twin_monitor.metrics import MonitorMetrics
from twin_monitor.reports import ReportOutcome, ReportService, run_in_worker
from twin_monitor.settings import MonitorSettings
from twin_monitor.store import MonitorStore, PurgeResult

log = logging.getLogger(__name__)

Publish = Callable[[bytes, str, bytes], Awaitable[None]]  # (value, topic, key)


def _worker_init(service_name: str, level: str, json_logs: bool) -> None:
    """Logging like the service's, and an exit when the service is gone (a SIGKILLed parent leaves no one to stop
    the worker otherwise)."""
    import os
    import threading
    import time

    setup_logging(f"{service_name}-reports", level, json_logs)
    parent = os.getppid()

    def watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()


class ReportScheduler:
    def __init__(self, settings: MonitorSettings, store: MonitorStore, metrics: MonitorMetrics, publish: Publish):
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.publish = publish
        self._wake = asyncio.Event()
        self._executor: ProcessPoolExecutor | None = None
        self._inline: ReportService | None = None
        self._task: asyncio.Task | None = None
        self._purged_at: float | None = None  # monotonic time of the last retention pass
        self.last_error: str | None = None

    # --- building ---------------------------------------------------------------------------------------------

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            s = self.settings
            self._executor = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(s.service_name, s.log_level, s.log_json),
            )
        return self._executor

    async def build(self, window_id: str, trigger: str) -> ReportOutcome:
        """Build one report (in the worker process unless report_workers is 0), then publish its new alerts."""
        with self.metrics.report_seconds.time():
            try:
                if self.settings.report_workers:
                    loop = asyncio.get_running_loop()
                    try:
                        outcome = await loop.run_in_executor(
                            self._pool(), run_in_worker, self.settings, window_id, trigger
                        )
                    except BrokenProcessPool:
                        log.error("the report worker died; starting a new one")
                        self._executor = None
                        raise
                else:
                    self._inline = self._inline or ReportService(self.settings, self.store)
                    outcome = await asyncio.to_thread(self._inline.build, window_id, trigger)
            except Exception:
                self.metrics.reports.labels(trigger, "failed").inc()
                raise
        self.metrics.reports.labels(trigger, "built").inc()
        self.metrics.record_results(outcome.tenant_id, outcome.segment, outcome.results)
        for result in outcome.results:
            if result["drifted"] and _alert_is_new(outcome, result["metric"]):
                self.metrics.alerts.labels(result["metric"]).inc()
        await self.publish_alerts()
        return outcome

    async def publish_alerts(self) -> int:
        rows = await asyncio.to_thread(self.store.unpublished_alerts)
        sent = []
        for row in rows:
            alert = DriftAlert.model_validate(row["event"])
            await self.publish(alert.to_bytes(), self.settings.alerts_topic, alert.tenant_id.encode())
            sent.append(row["alert_id"])
        if sent:
            await asyncio.to_thread(self.store.mark_published, sent)
            self.metrics.alerts_published.inc(len(sent))
        return len(sent)

    # --- retention --------------------------------------------------------------------------------------------

    async def purge(self, now: datetime | None = None) -> PurgeResult:
        """Delete what closed more than `retention_days` before `now`, then the deleted reports' files."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=self.settings.retention_days)
        result = await asyncio.to_thread(self.store.purge_before, cutoff)
        for path in result.report_files:
            Path(path).unlink(missing_ok=True)
        for kind in ("windows", "requests", "reports", "feedback"):
            self.metrics.purged.labels(kind).inc(getattr(result, kind))
        if result.windows or result.feedback:
            log.info(
                "retention (%g days): deleted %d windows, %d requests, %d reports, %d feedback rows",
                self.settings.retention_days,
                result.windows,
                result.requests,
                result.reports,
                result.feedback,
            )
        return result

    def _purge_due(self) -> bool:
        if not self.settings.retention_days:
            return False
        return self._purged_at is None or time.monotonic() - self._purged_at >= self.settings.retention_interval_s

    # --- the loop --------------------------------------------------------------------------------------------

    async def tick(self) -> int:
        """One pass: close windows whose time is up, build every pending report, publish alerts. Returns reports
        built."""
        s = self.settings
        for _ in await asyncio.to_thread(self.store.close_expired):
            self.metrics.windows_closed.labels("schedule").inc()
        built = 0
        while (window := await asyncio.to_thread(self.store.claim_report, s.report_max_attempts)) is not None:
            try:
                await self.build(window.id, "schedule")
                built += 1
            except asyncio.CancelledError:  # stopping mid-build: give the window back for the next start
                await asyncio.shield(asyncio.to_thread(self.store.release_report, window.id))
                raise
            except Exception as exc:  # noqa: BLE001 - recorded on the window; retried up to report_max_attempts
                error = f"{type(exc).__name__}: {exc}"
                self.last_error = error
                log.exception("report of window %s failed (attempt %d)", window.id, window.report_attempts)
                await asyncio.to_thread(self.store.report_failed, window.id, error, s.report_max_attempts)
        await self.publish_alerts()
        if self._purge_due():
            await self.purge()
            self._purged_at = time.monotonic()
        return built

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a database outage is waited out like in the consumer
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("report schedule pass failed: %s", exc)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.schedule_interval_s)
            except TimeoutError:
                pass
            self._wake.clear()

    def wake(self, closed_window_ids: list[str] | None = None) -> None:
        if closed_window_ids:
            self.metrics.windows_closed.labels("consumer").inc(len(closed_window_ids))
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._executor is not None:
            # a report in progress is abandoned (its window stays pending and is built again after the lease)
            processes = list(getattr(self._executor, "_processes", {}).values())
            self._executor.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.terminate()
            for process in processes:
                process.join(timeout=10)


def _alert_is_new(outcome: ReportOutcome, metric: str) -> bool:
    from twin_monitor.reports import alert_id

    return alert_id(outcome.tenant_id, outcome.segment, outcome.window_id, metric) in outcome.new_alert_ids
