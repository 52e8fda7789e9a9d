"""The monitor's state in PostgreSQL (tables of migration 0003_monitor, applied by `twin migrate`).

Requests are written and assigned to windows in one transaction per consumed batch, so a crash before the Kafka
commit replays the batch and the event ids make the replay a no-op. Each segment's row is locked while its
windows change (ingest, time closing, pinning), so several monitor replicas never assign one request twice or
leave two open windows.

Window life: a segment without a reference fills a *reference* window (`reference_size` requests, or
`reference_seconds` once it holds `min_rows`); then tumbling *current* windows of `size` requests, or `seconds`
after their first request, each compared with the segment's reference when it closes.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from twin_monitor.records import FEEDBACK_COLUMNS, REQUEST_COLUMNS, FeedbackRow, RequestRow
from twin_monitor.settings import WindowSettings

WINDOW_COLUMNS = (
    "id, tenant_id, segment, seq, kind, status, size_limit, duration_s, request_count, opened_at, first_event_at, "
    "last_event_at, closed_at, close_reason, reference_id, report_status, report_attempts, report_error"
)
REPORT_COLUMNS = (
    "id, tenant_id, segment, window_id, reference_window_id, trigger, created_at, current_rows, reference_rows, "
    "html_path, json_path, results, drifted_count, tested_count, build_seconds"
)


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


@dataclass
class Window:
    id: str
    tenant_id: str
    segment: str
    seq: int
    kind: str
    status: str
    size_limit: int
    duration_s: float | None
    request_count: int
    opened_at: datetime
    first_event_at: datetime | None
    last_event_at: datetime | None
    closed_at: datetime | None
    close_reason: str | None
    reference_id: str | None
    report_status: str
    report_attempts: int
    report_error: str | None

    def due_at(self) -> datetime | None:
        if self.duration_s is None or self.first_event_at is None:
            return None
        return self.first_event_at + timedelta(seconds=self.duration_s)

    def as_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
        return out


@dataclass
class PurgeResult:
    """What one retention pass deleted; `report_files` are the deleted reports' files, for the caller to remove."""

    windows: int = 0
    requests: int = 0
    reports: int = 0
    feedback: int = 0
    report_files: list[str] = field(default_factory=list)


@dataclass
class IngestResult:
    inserted: int = 0
    duplicates: int = 0
    closed: list[str] | None = None


def _request_values(row: RequestRow) -> tuple:
    """Column values of a request; the query embedding as float32 bytes (a float array is parsed number by number
    on the way in, about three quarters of the insert time)."""
    values = {c: getattr(row, c) for c in REQUEST_COLUMNS}
    if row.query_embedding is not None:
        values["query_embedding"] = np.asarray(row.query_embedding, dtype="<f4").tobytes()
    return tuple(values.values())


def _embedding(data: bytes | None) -> np.ndarray | None:
    return None if data is None else np.frombuffer(data, dtype="<f4")


def _new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


class MonitorStore:
    def __init__(self, dsn: str, windows: WindowSettings, report_lease_s: float = 600.0, connect_timeout_s: int = 5):
        self.dsn = dsn
        self.windows = windows
        self.report_lease_s = report_lease_s
        self.connect_timeout_s = connect_timeout_s

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, row_factory=dict_row, connect_timeout=self.connect_timeout_s)

    def ping(self) -> bool:
        with self.connect() as conn:
            return conn.execute("SELECT to_regclass('public.monitor_windows') IS NOT NULL AS ok").fetchone()["ok"]

    # --- ingest -----------------------------------------------------------------------------------------------

    def ingest_requests(self, rows: Sequence[RequestRow]) -> IngestResult:
        """Write new requests and assign each to its segment's open window; duplicates (same event id) are skipped."""
        result = IngestResult(closed=[])
        by_segment: dict[tuple[str, str], list[RequestRow]] = defaultdict(list)
        seen: set[str] = set()
        for row in rows:
            if row.event_id in seen:
                result.duplicates += 1
                continue
            seen.add(row.event_id)
            by_segment[(row.tenant_id, row.segment)].append(row)
        if not by_segment:
            return result
        with self.connect() as conn, conn.transaction():
            for key in sorted(by_segment):  # one lock order for every writer: no deadlock between replicas
                tenant_id, segment = key
                segment_rows = by_segment[key]
                self._lock_segment(conn, tenant_id, segment)
                existing = {
                    r["event_id"]
                    for r in conn.execute(
                        "SELECT event_id FROM monitor_requests WHERE event_id = ANY(%s)",
                        ([r.event_id for r in segment_rows],),
                    )
                }
                fresh = [r for r in segment_rows if r.event_id not in existing]
                result.duplicates += len(segment_rows) - len(fresh)
                if not fresh:
                    continue
                assigned = self._assign(conn, tenant_id, segment, fresh, result.closed)
                with conn.cursor() as cur:
                    cur.executemany(
                        f"INSERT INTO monitor_requests ({', '.join(REQUEST_COLUMNS)}, window_id) "
                        f"VALUES ({', '.join(['%s'] * (len(REQUEST_COLUMNS) + 1))})",
                        [(*_request_values(r), w) for r, w in assigned],
                    )
                last_model = next((r.model for r in reversed(fresh) if r.model), None)
                if last_model:
                    conn.execute(
                        "UPDATE monitor_segments SET last_model = %s WHERE tenant_id = %s AND segment = %s",
                        (last_model, tenant_id, segment),
                    )
                result.inserted += len(fresh)
        return result

    def ingest_feedback(self, rows: Sequence[FeedbackRow]) -> int:
        if not rows:
            return 0
        with self.connect() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO monitor_feedback ({', '.join(FEEDBACK_COLUMNS)}) "
                f"VALUES ({', '.join(['%s'] * len(FEEDBACK_COLUMNS))}) ON CONFLICT (event_id) DO NOTHING",
                [tuple(getattr(r, c) for c in FEEDBACK_COLUMNS) for r in rows],
            )
            return cur.rowcount

    def _lock_segment(self, conn: psycopg.Connection, tenant_id: str, segment: str) -> dict:
        conn.execute(
            "INSERT INTO monitor_segments (tenant_id, segment) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (tenant_id, segment),
        )
        return conn.execute(
            "SELECT * FROM monitor_segments WHERE tenant_id = %s AND segment = %s FOR UPDATE", (tenant_id, segment)
        ).fetchone()

    def _open_window(self, conn: psycopg.Connection, tenant_id: str, segment: str) -> Window | None:
        row = conn.execute(
            f"SELECT {WINDOW_COLUMNS} FROM monitor_windows WHERE tenant_id = %s AND segment = %s AND status = 'open'",
            (tenant_id, segment),
        ).fetchone()
        return Window(**row) if row else None

    def _create_window(self, conn: psycopg.Connection, tenant_id: str, segment: str) -> Window:
        reference = conn.execute(
            "SELECT reference_window_id FROM monitor_segments WHERE tenant_id = %s AND segment = %s",
            (tenant_id, segment),
        ).fetchone()["reference_window_id"]
        kind = "current" if reference else "reference"
        w = self.windows
        size, duration = (w.size, w.seconds) if kind == "current" else (w.reference_size, w.reference_seconds)
        duration = duration if duration and duration > 0 else None
        row = conn.execute(
            f"INSERT INTO monitor_windows (id, tenant_id, segment, seq, kind, status, size_limit, duration_s) "
            f"VALUES (%s, %s, %s, (SELECT coalesce(max(seq), 0) + 1 FROM monitor_windows "
            f"WHERE tenant_id = %s AND segment = %s), %s, 'open', %s, %s) RETURNING {WINDOW_COLUMNS}",
            (_new_id("w"), tenant_id, segment, tenant_id, segment, kind, size, duration),
        ).fetchone()
        return Window(**row)

    def _expired(self, window: Window, at: datetime) -> bool:
        due = window.due_at()
        if due is None or at < due:
            return False
        # A reference is never closed by time before it holds enough rows to compare against.
        return window.kind == "current" or window.request_count >= self.windows.min_rows

    def _assign(
        self, conn: psycopg.Connection, tenant_id: str, segment: str, rows: list[RequestRow], closed: list[str]
    ) -> list[tuple[RequestRow, str]]:
        window = self._open_window(conn, tenant_id, segment)
        assigned: list[tuple[RequestRow, str]] = []
        dirty: dict[str, Window] = {}
        for row in rows:
            if window is not None and self._expired(window, row.occurred_at):
                self._save_counts(conn, window)
                self._close(conn, window, "time")
                closed.append(window.id)
                dirty.pop(window.id, None)
                window = None
            if window is None:
                window = self._create_window(conn, tenant_id, segment)
            window.request_count += 1
            if window.first_event_at is None or row.occurred_at < window.first_event_at:
                window.first_event_at = row.occurred_at
            if window.last_event_at is None or row.occurred_at > window.last_event_at:
                window.last_event_at = row.occurred_at
            assigned.append((row, window.id))
            dirty[window.id] = window
            if window.request_count >= window.size_limit:
                self._save_counts(conn, window)
                self._close(conn, window, "count")
                closed.append(window.id)
                dirty.pop(window.id, None)
                window = None
        for w in dirty.values():
            self._save_counts(conn, w)
        return assigned

    def _save_counts(self, conn: psycopg.Connection, window: Window) -> None:
        conn.execute(
            "UPDATE monitor_windows SET request_count = %s, first_event_at = %s, last_event_at = %s WHERE id = %s",
            (window.request_count, window.first_event_at, window.last_event_at, window.id),
        )

    def _close(self, conn: psycopg.Connection, window: Window, reason: str) -> None:
        """Close a window (its segment is locked): a reference becomes the segment's reference; a current window
        is queued for its report (or skipped when it holds fewer than min_rows requests)."""
        if window.kind == "reference":
            conn.execute(
                "UPDATE monitor_windows SET status = 'closed', closed_at = now(), close_reason = %s WHERE id = %s",
                (reason, window.id),
            )
            conn.execute(
                "UPDATE monitor_segments SET reference_window_id = %s WHERE tenant_id = %s AND segment = %s",
                (window.id, window.tenant_id, window.segment),
            )
            return
        reference = conn.execute(
            "SELECT reference_window_id FROM monitor_segments WHERE tenant_id = %s AND segment = %s",
            (window.tenant_id, window.segment),
        ).fetchone()["reference_window_id"]
        enough = window.request_count >= self.windows.min_rows and reference is not None
        conn.execute(
            "UPDATE monitor_windows SET status = 'closed', closed_at = now(), close_reason = %s, reference_id = %s, "
            "report_status = %s, report_error = %s WHERE id = %s",
            (
                reason,
                reference,
                "pending" if enough else "skipped",
                None
                if enough
                else f"{window.request_count} requests (fewer than {self.windows.min_rows})"
                if reference
                else "no reference",
                window.id,
            ),
        )

    def close_expired(self, now: datetime | None = None) -> list[str]:
        """Close open windows whose time is up (called on a schedule: a quiet segment still gets its report)."""
        now = now or datetime.now(UTC)
        closed: list[str] = []
        with self.connect() as conn:
            candidates = conn.execute(
                "SELECT tenant_id, segment FROM monitor_windows WHERE status = 'open' AND duration_s IS NOT NULL "
                "AND first_event_at + make_interval(secs => duration_s) <= %s ORDER BY tenant_id, segment",
                (now,),
            ).fetchall()
        for candidate in candidates:
            with self.connect() as conn, conn.transaction():
                self._lock_segment(conn, candidate["tenant_id"], candidate["segment"])
                window = self._open_window(conn, candidate["tenant_id"], candidate["segment"])
                if window is not None and self._expired(window, now):
                    self._close(conn, window, "time")
                    closed.append(window.id)
        return closed

    # --- reference management ----------------------------------------------------------------------------------

    def reset_reference(self, tenant_id: str, segment: str | None = None) -> list[str]:
        """Forget the reference of a segment (all of the tenant's segments when none is named): the open window is
        closed (a current one is still reported against the old reference) and the next requests fill a new one.
        Returns the segments reset."""
        with self.connect() as conn, conn.transaction():
            segments = self._segments(conn, tenant_id, segment)
            for name in segments:
                self._reset(conn, tenant_id, name)
        return segments

    def _reset(self, conn: psycopg.Connection, tenant_id: str, segment: str) -> None:
        self._lock_segment(conn, tenant_id, segment)
        window = self._open_window(conn, tenant_id, segment)
        if window is not None:
            if window.kind == "reference":  # a half-filled reference is dropped as a reference, rows kept
                conn.execute(
                    "UPDATE monitor_windows SET status = 'closed', closed_at = now(), close_reason = 'reset', "
                    "report_status = 'skipped', report_error = 'reference reset before it filled' WHERE id = %s",
                    (window.id,),
                )
            else:
                self._close(conn, window, "reset")
        conn.execute(
            "UPDATE monitor_segments SET reference_window_id = NULL WHERE tenant_id = %s AND segment = %s",
            (tenant_id, segment),
        )

    def pin_reference(self, tenant_id: str, segment: str | None = None, window_id: str | None = None) -> Window:
        """Make a closed window the segment's reference (default: its latest closed window with min_rows requests).
        A reference still filling becomes a current window compared with the pinned one."""
        with self.connect() as conn, conn.transaction():
            if window_id is not None:
                row = conn.execute(
                    f"SELECT {WINDOW_COLUMNS} FROM monitor_windows WHERE id = %s AND tenant_id = %s",
                    (window_id, tenant_id),
                ).fetchone()
                if row is None:
                    raise NotFound(f"no window {window_id} for tenant {tenant_id}")
                if segment is not None and row["segment"] != segment:
                    raise Conflict(f"window {window_id} is in segment {row['segment']!r}, not {segment!r}")
                segment = row["segment"]
            else:
                segment = self._one_segment(conn, tenant_id, segment)
                row = conn.execute(
                    f"SELECT {WINDOW_COLUMNS} FROM monitor_windows WHERE tenant_id = %s AND segment = %s "
                    "AND status = 'closed' AND request_count >= %s ORDER BY seq DESC LIMIT 1",
                    (tenant_id, segment, self.windows.min_rows),
                ).fetchone()
                if row is None:
                    raise NotFound(f"tenant {tenant_id} segment {segment!r} has no closed window to pin")
            self._lock_segment(conn, tenant_id, segment)
            window = Window(**row)
            if window.status != "closed":
                raise Conflict(f"window {window.id} is still open: only a closed window can be the reference")
            if window.request_count < self.windows.min_rows:
                raise Conflict(f"window {window.id} holds {window.request_count} requests (< {self.windows.min_rows})")
            filling = self._open_window(conn, tenant_id, segment)
            if filling is not None and filling.kind == "reference":
                conn.execute(
                    "UPDATE monitor_windows SET kind = 'current', size_limit = %s, duration_s = %s WHERE id = %s",
                    (self.windows.size, self.windows.seconds or None, filling.id),
                )
            conn.execute(
                "UPDATE monitor_segments SET reference_window_id = %s WHERE tenant_id = %s AND segment = %s",
                (window.id, tenant_id, segment),
            )
            return window

    def reset_for_model(self, event_id: str, model_name: str, version: str, alias: str | None) -> list[tuple]:
        """A new model took over (ModelRegistered): reset the reference of every segment last served by it, once
        per event (a replayed event changes nothing). Returns the (tenant, segment) pairs reset."""
        with self.connect() as conn, conn.transaction():
            new = conn.execute(
                "INSERT INTO monitor_model_events (event_id, model_name, version, alias) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                (event_id, model_name, version, alias),
            ).fetchone()
            if new is None:
                return []
            targets = conn.execute(
                "SELECT tenant_id, segment FROM monitor_segments WHERE last_model = %s ORDER BY tenant_id, segment",
                (model_name,),
            ).fetchall()
            for t in targets:
                self._reset(conn, t["tenant_id"], t["segment"])
            return [(t["tenant_id"], t["segment"]) for t in targets]

    def _segments(self, conn: psycopg.Connection, tenant_id: str, segment: str | None) -> list[str]:
        rows = conn.execute(
            "SELECT segment FROM monitor_segments WHERE tenant_id = %s AND (%s::text IS NULL OR segment = %s) "
            "ORDER BY segment",
            (tenant_id, segment, segment),
        ).fetchall()
        if not rows:
            raise NotFound(f"tenant {tenant_id} has no segment {segment!r}" if segment else f"no tenant {tenant_id}")
        return [r["segment"] for r in rows]

    def _one_segment(self, conn: psycopg.Connection, tenant_id: str, segment: str | None) -> str:
        segments = self._segments(conn, tenant_id, segment)
        if len(segments) > 1:
            raise Conflict(f"tenant {tenant_id} has several segments ({', '.join(segments)}): name one")
        return segments[0]

    # --- reads ----------------------------------------------------------------------------------------------------

    def segments(self, tenant_id: str | None = None) -> list[dict]:
        with self.connect() as conn:
            return conn.execute(
                "SELECT s.tenant_id, s.segment, s.reference_window_id, s.last_model, "
                "(SELECT id FROM monitor_windows w WHERE w.tenant_id = s.tenant_id AND w.segment = s.segment "
                " AND w.status = 'open') AS open_window_id FROM monitor_segments s "
                "WHERE %s::text IS NULL OR s.tenant_id = %s ORDER BY s.tenant_id, s.segment",
                (tenant_id, tenant_id),
            ).fetchall()

    def window(self, window_id: str) -> Window:
        with self.connect() as conn:
            row = conn.execute(f"SELECT {WINDOW_COLUMNS} FROM monitor_windows WHERE id = %s", (window_id,)).fetchone()
        if row is None:
            raise NotFound(f"no window {window_id}")
        return Window(**row)

    def list_windows(
        self, tenant_id: str | None = None, segment: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Window]:
        with self.connect() as conn:
            rows = conn.execute(
                f"SELECT {WINDOW_COLUMNS} FROM monitor_windows WHERE (%(t)s::text IS NULL OR tenant_id = %(t)s) "
                "AND (%(s)s::text IS NULL OR segment = %(s)s) ORDER BY opened_at DESC, seq DESC "
                "LIMIT %(limit)s OFFSET %(offset)s",
                {"t": tenant_id, "s": segment, "limit": limit, "offset": offset},
            ).fetchall()
        return [Window(**r) for r in rows]

    def window_rows(self, window_id: str) -> list[dict]:
        """The window's requests with their latest rating (feedback joined on tenant and request id); query
        embeddings as float32 arrays."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT r.*, f.rating FROM monitor_requests r LEFT JOIN LATERAL ("
                " SELECT rating FROM monitor_feedback f WHERE f.tenant_id = r.tenant_id AND f.request_id = r.request_id"
                " ORDER BY f.occurred_at DESC LIMIT 1) f ON true WHERE r.window_id = %s ORDER BY r.occurred_at",
                (window_id,),
            ).fetchall()
        for row in rows:
            row["query_embedding"] = _embedding(row["query_embedding"])
        return rows

    def window_event_ids(self, window_id: str) -> list[str]:
        with self.connect() as conn:
            return [
                r["event_id"]
                for r in conn.execute("SELECT event_id FROM monitor_requests WHERE window_id = %s", (window_id,))
            ]

    # --- reports and alerts -----------------------------------------------------------------------------------

    def claim_report(self, max_attempts: int) -> Window | None:
        """Take the oldest closed window waiting for its report, leased so one replica builds it at a time."""
        with self.connect() as conn, conn.transaction():
            row = conn.execute(
                f"UPDATE monitor_windows SET report_attempts = report_attempts + 1, "
                f"report_lease_until = now() + make_interval(secs => %s) WHERE id = ("
                f" SELECT id FROM monitor_windows WHERE report_status = 'pending' AND report_attempts < %s"
                f" AND (report_lease_until IS NULL OR report_lease_until < now())"
                f" ORDER BY closed_at LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING {WINDOW_COLUMNS}",
                (self.report_lease_s, max_attempts),
            ).fetchone()
        return Window(**row) if row else None

    def release_report(self, window_id: str) -> None:
        """Give a claimed window back (the service is stopping mid-build): the next pass builds it at once."""
        with self.connect() as conn:
            conn.execute(
                "UPDATE monitor_windows SET report_lease_until = NULL, report_attempts = greatest(report_attempts - 1, 0) "
                "WHERE id = %s AND report_status = 'pending'",
                (window_id,),
            )

    def report_failed(self, window_id: str, error: str, max_attempts: int) -> None:
        with self.connect() as conn:
            conn.execute(
                "UPDATE monitor_windows SET report_error = %s, report_lease_until = NULL, "
                "report_status = CASE WHEN report_attempts >= %s THEN 'failed' ELSE report_status END WHERE id = %s",
                (error[:2000], max_attempts, window_id),
            )

    def save_report(self, record: dict[str, Any], alerts: Iterable[dict[str, Any]], scheduled: bool) -> list[str]:
        """Record a report and its alerts (the outbox); a scheduled report also marks its window done.
        Returns the ids of alerts new to this window (an alert already raised for the metric is not repeated)."""
        with self.connect() as conn, conn.transaction():
            conn.execute(
                f"INSERT INTO monitor_reports ({REPORT_COLUMNS}) VALUES "
                f"(%(id)s, %(tenant_id)s, %(segment)s, %(window_id)s, %(reference_window_id)s, %(trigger)s, "
                f"%(created_at)s, %(current_rows)s, %(reference_rows)s, %(html_path)s, %(json_path)s, %(results)s, "
                f"%(drifted_count)s, %(tested_count)s, %(build_seconds)s)",
                {**record, "results": Jsonb(record["results"])},
            )
            new = []
            for alert in alerts:
                inserted = conn.execute(
                    "INSERT INTO monitor_alerts (alert_id, tenant_id, segment, window_id, report_id, metric, event) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (alert_id) DO NOTHING RETURNING alert_id",
                    (
                        alert["alert_id"],
                        alert["tenant_id"],
                        record["segment"],
                        alert["window_id"],
                        record["id"],
                        alert["metric"],
                        Jsonb(alert),
                    ),
                ).fetchone()
                if inserted:
                    new.append(inserted["alert_id"])
            if scheduled:
                conn.execute(
                    "UPDATE monitor_windows SET report_status = 'done', report_error = NULL, report_lease_until = NULL "
                    "WHERE id = %s",
                    (record["window_id"],),
                )
            return new

    def unpublished_alerts(self, limit: int = 100) -> list[dict]:
        with self.connect() as conn:
            return conn.execute(
                "SELECT alert_id, event FROM monitor_alerts WHERE published_at IS NULL ORDER BY created_at LIMIT %s",
                (limit,),
            ).fetchall()

    def mark_published(self, alert_ids: Sequence[str]) -> None:
        if alert_ids:
            with self.connect() as conn:
                conn.execute(
                    "UPDATE monitor_alerts SET published_at = now() WHERE alert_id = ANY(%s)", (list(alert_ids),)
                )

    def alerts(self, tenant_id: str | None = None, window_id: str | None = None, limit: int = 200) -> list[dict]:
        with self.connect() as conn:
            return conn.execute(
                "SELECT alert_id, tenant_id, segment, window_id, report_id, metric, event, created_at, published_at "
                "FROM monitor_alerts WHERE (%(t)s::text IS NULL OR tenant_id = %(t)s) "
                "AND (%(w)s::text IS NULL OR window_id = %(w)s) ORDER BY created_at DESC LIMIT %(limit)s",
                {"t": tenant_id, "w": window_id, "limit": limit},
            ).fetchall()

    def reports(
        self, tenant_id: str | None = None, window_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[dict]:
        with self.connect() as conn:
            return conn.execute(
                f"SELECT {REPORT_COLUMNS} FROM monitor_reports WHERE (%(t)s::text IS NULL OR tenant_id = %(t)s) "
                "AND (%(w)s::text IS NULL OR window_id = %(w)s) ORDER BY created_at DESC, id "
                "LIMIT %(limit)s OFFSET %(offset)s",
                {"t": tenant_id, "w": window_id, "limit": limit, "offset": offset},
            ).fetchall()

    def report(self, report_id: str) -> dict:
        with self.connect() as conn:
            row = conn.execute(f"SELECT {REPORT_COLUMNS} FROM monitor_reports WHERE id = %s", (report_id,)).fetchone()
        if row is None:
            raise NotFound(f"no report {report_id}")
        return row

    def latest_scores(self) -> list[dict]:
        """The newest report of every segment (for the Prometheus gauges after a restart)."""
        with self.connect() as conn:
            return conn.execute(
                f"SELECT DISTINCT ON (tenant_id, segment) {REPORT_COLUMNS} FROM monitor_reports "
                "ORDER BY tenant_id, segment, created_at DESC"
            ).fetchall()

    # --- retention ----------------------------------------------------------------------------------------------

    def purge_before(self, cutoff: datetime, max_passes: int = 10) -> PurgeResult:
        """Delete what closed before `cutoff`: windows (with their requests, reports and alerts) that are not a
        segment's reference, not referenced by a kept window or report, and not waiting for their report; then
        feedback older than `cutoff` whose request is gone. Open windows and references in use are kept whatever
        their age. A pass frees the references the previous one released; it stops when nothing more goes."""
        result = PurgeResult()
        with self.connect() as conn, conn.transaction():
            for _ in range(max_passes):
                ids = [
                    r["id"]
                    for r in conn.execute(
                        "SELECT w.id FROM monitor_windows w WHERE w.status = 'closed' AND w.closed_at < %s "
                        "AND w.report_status <> 'pending' "
                        "AND NOT EXISTS (SELECT 1 FROM monitor_segments s WHERE s.reference_window_id = w.id) "
                        "AND NOT EXISTS (SELECT 1 FROM monitor_windows k WHERE k.reference_id = w.id) "
                        "AND NOT EXISTS (SELECT 1 FROM monitor_reports r "
                        "                WHERE r.reference_window_id = w.id AND r.window_id <> w.id) "
                        "FOR UPDATE OF w SKIP LOCKED",
                        (cutoff,),
                    )
                ]
                if not ids:
                    break
                reports = conn.execute(
                    "SELECT html_path, json_path FROM monitor_reports WHERE window_id = ANY(%s)", (ids,)
                ).fetchall()
                result.report_files += [path for r in reports for path in (r["html_path"], r["json_path"])]
                result.reports += len(reports)
                result.requests += conn.execute(
                    "DELETE FROM monitor_requests WHERE window_id = ANY(%s)", (ids,)
                ).rowcount
                result.windows += conn.execute("DELETE FROM monitor_windows WHERE id = ANY(%s)", (ids,)).rowcount
            result.feedback = conn.execute(
                "DELETE FROM monitor_feedback f WHERE f.received_at < %s AND NOT EXISTS ("
                "SELECT 1 FROM monitor_requests q WHERE q.tenant_id = f.tenant_id AND q.request_id = f.request_id)",
                (cutoff,),
            ).rowcount
        return result
