"""Entry point of the monitor service: `twin-monitor` or `python -m twin_monitor`.

One event loop runs the Kafka consumer (request log, feedback, model registry), the report schedule (reports
built in a worker process) and the HTTP app (report pages, JSON API, /metrics, health).
"""

from __future__ import annotations

import asyncio
import logging

from twin_common.service import bootstrap
from twin_common.telemetry.kafka import send_span

from twin_monitor.auth import Authenticator, build_verifier
from twin_monitor.consumer import MonitorConsumer
from twin_monitor.http import build_app
from twin_monitor.metrics import MonitorMetrics
from twin_monitor.scheduler import ReportScheduler
from twin_monitor.settings import MonitorSettings
from twin_monitor.store import MonitorStore

log = logging.getLogger(__name__)


async def run(settings: MonitorSettings) -> None:
    import uvicorn

    if settings.migrate_on_start:
        from twin_ingest.db import migrate

        await asyncio.to_thread(migrate, settings.dsn())
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    store = MonitorStore(settings.dsn(), settings.window, report_lease_s=settings.report_lease_s)
    metrics = MonitorMetrics()
    for row in await asyncio.to_thread(store.latest_scores):  # the gauges survive a restart
        metrics.record_results(row["tenant_id"], row["segment"], row["results"])

    consumer: MonitorConsumer | None = None

    async def publish(value: bytes, topic: str, key: bytes) -> None:
        with send_span(topic, key=key) as headers:  # the trainer's drift consumer continues this trace
            await consumer.broker.publish(value, topic, key=key, headers=headers)

    scheduler = ReportScheduler(settings, store, metrics, publish)
    consumer = MonitorConsumer(settings, store, metrics, on_windows_closed=scheduler.wake)
    authenticator = Authenticator(build_verifier(settings.dsn()), settings.auth)
    app = build_app(settings, store, scheduler, consumer, authenticator)
    server = uvicorn.Server(uvicorn.Config(app, host=settings.http_host, port=settings.http_port, log_config=None))
    await consumer.start()
    if settings.schedule_reports:
        scheduler.start()
    try:
        await server.serve()  # returns on SIGTERM / SIGINT
    finally:
        await scheduler.stop()
        await consumer.stop()
        await authenticator.close()


def main() -> None:
    settings = MonitorSettings()
    bootstrap(settings)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
