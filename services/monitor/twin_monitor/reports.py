"""Building a window's report: rows from PostgreSQL, Evidently run, HTML and JSON files, report row and alerts.

Reports are built off the request and consumer paths: in a worker process (`run_in_worker`, one report at a time,
so the consumer and the HTTP API keep their interpreter) on a schedule when a window closes, or on demand.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from twin_common.events import DriftAlert

from twin_monitor.drift import DriftReportBuilder, TestResult
from twin_monitor.settings import MonitorSettings
from twin_monitor.store import Conflict, MonitorStore, Window

log = logging.getLogger(__name__)


def alert_id(tenant_id: str, segment: str, window_id: str, metric: str) -> str:
    """Deterministic: the same metric failing again on the same window (a re-run, a replay) has the same id."""
    return hashlib.sha256("\x1f".join((tenant_id, segment, window_id, metric)).encode()).hexdigest()[:32]


def tenant_dir(tenant_id: str) -> str:
    """A folder name for the tenant that cannot escape the reports folder ('..', '/') or collide with another's."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", tenant_id).strip(".")[:48] or "tenant"
    return f"{safe}-{hashlib.sha256(tenant_id.encode()).hexdigest()[:8]}"


def _mode(frame: pd.DataFrame, column: str) -> str | None:
    values = frame[column].dropna() if column in frame else []
    return None if len(values) == 0 else str(values.mode().iloc[0])


def json_safe(value: Any) -> Any:
    """Plain JSON: NaN and infinities as null (Evidently scores a constant column NaN), numpy scalars as numbers,
    dates as ISO text."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    return str(value)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class ReportOutcome:
    report_id: str
    window_id: str
    tenant_id: str
    segment: str
    results: list[dict[str, Any]]
    new_alert_ids: list[str]
    build_seconds: float


class ReportService:
    def __init__(self, settings: MonitorSettings, store: MonitorStore | None = None):
        self.settings = settings
        self.store = store or MonitorStore(settings.dsn(), settings.window)
        self.builder = DriftReportBuilder(settings.drift, min_rows=settings.window.min_rows)

    def reference_for(self, window: Window) -> str:
        if window.kind == "reference":
            raise Conflict(f"window {window.id} is a reference window: it is what others are compared with")
        if window.status == "closed":
            if window.reference_id is None:
                raise Conflict(f"window {window.id} closed before its segment had a reference")
            return window.reference_id
        segment = next(
            (
                s
                for s in self.store.segments(window.tenant_id)
                if s["segment"] == window.segment and s["reference_window_id"]
            ),
            None,
        )
        if segment is None:
            raise Conflict(f"segment {window.segment!r} of tenant {window.tenant_id} has no reference yet")
        return segment["reference_window_id"]

    def build(self, window_id: str, trigger: str) -> ReportOutcome:
        """Build, save and record one report of the window (trigger 'schedule' or 'demand')."""
        window = self.store.window(window_id)
        reference_id = self.reference_for(window)
        current = pd.DataFrame(self.store.window_rows(window.id))
        reference = pd.DataFrame(self.store.window_rows(reference_id))
        if len(current) < self.settings.window.min_rows:
            raise Conflict(f"window {window.id} holds {len(current)} requests (< {self.settings.window.min_rows})")
        started = time.perf_counter()
        report_id = f"r{uuid.uuid4().hex[:16]}"
        title = f"twin monitor · {window.tenant_id} · {window.segment or 'all'} · window {window.seq}"
        built = self.builder.build(reference, current, title)
        build_seconds = time.perf_counter() - started

        created_at = datetime.now(UTC)
        alerts = [self._alert(window, current, report_id, r) for r in built.drifted]
        folder = self.settings.reports_dir / tenant_dir(window.tenant_id)
        html_path, json_path = folder / f"{report_id}.html", folder / f"{report_id}.json"
        results = [r.as_dict() for r in built.results]
        document = {
            "report_id": report_id,
            "tenant_id": window.tenant_id,
            "segment": window.segment,
            "trigger": trigger,
            "created_at": created_at.isoformat(),
            "window": window.as_dict(),
            "reference_window_id": reference_id,
            "rows": {"current": len(current), "reference": len(reference)},
            "results": results,
            "summary": built.summary,
            "alerts": [a.model_dump(mode="json") for a in alerts],
            "evidently": built.evidently,
        }
        _write_atomically(html_path, built.html)
        _write_atomically(json_path, json.dumps(json_safe(document), allow_nan=False))
        record = {
            "id": report_id,
            "tenant_id": window.tenant_id,
            "segment": window.segment,
            "window_id": window.id,
            "reference_window_id": reference_id,
            "trigger": trigger,
            "created_at": created_at,
            "current_rows": len(current),
            "reference_rows": len(reference),
            "html_path": str(html_path),
            "json_path": str(json_path),
            "results": results,
            "drifted_count": len(built.drifted),
            "tested_count": len(built.tested),
            "build_seconds": build_seconds,
        }
        new = self.store.save_report(
            record,
            [a.model_dump(mode="json") for a in alerts],
            scheduled=trigger == "schedule" and window.status == "closed",
        )
        log.info(
            "report %s of window %s (%s/%s): %d rows vs %d, %d of %d tests drifted, %d new alerts, %.1f s",
            report_id,
            window.id,
            window.tenant_id,
            window.segment,
            len(current),
            len(reference),
            len(built.drifted),
            len(built.tested),
            len(new),
            build_seconds,
        )
        return ReportOutcome(report_id, window.id, window.tenant_id, window.segment, results, new, build_seconds)

    def _alert(self, window: Window, current: pd.DataFrame, report_id: str, result: TestResult) -> DriftAlert:
        identifier = alert_id(window.tenant_id, window.segment, window.id, result.metric)
        return DriftAlert(
            event_id=identifier,
            alert_id=identifier,
            tenant_id=window.tenant_id,
            route=_mode(current, "route"),
            model=_mode(current, "model"),
            model_version=_mode(current, "model_version"),
            metric=result.metric,
            method=result.method,
            score=result.score if result.score is not None else float(result.threshold or 0.0),
            threshold=float(result.threshold) if result.threshold is not None else 0.0,
            window_id=window.id,
            window_start=window.first_event_at,
            window_end=window.last_event_at,
            report_id=report_id,
        )


# --- the worker process ------------------------------------------------------------------------------------------

_service: ReportService | None = None


def run_in_worker(settings: MonitorSettings, window_id: str, trigger: str) -> ReportOutcome:
    """Entry point of the report worker process (ProcessPoolExecutor): one ReportService per process."""
    global _service
    if _service is None:
        _service = ReportService(settings)
    return _service.build(window_id, trigger)
