"""The monitor's windows in PostgreSQL: a reference fills first, then tumbling current windows close by count or by
time; every request lands in exactly one window, a replay changes nothing; pinning, resetting and a ModelRegistered
event move the reference; tenants and segments never share a window; retention deletes only what is no longer used."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from twin_monitor.records import FeedbackRow, RequestRow
from twin_monitor.settings import WindowSettings
from twin_monitor.store import Conflict, MonitorStore, NotFound
from twin_monitor.synthetic import STABLE, generate

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def rows(tenant: str, n: int, start: datetime = T0, route: str = "twin", seed: int = 1) -> list[RequestRow]:
    profile = dataclasses.replace(STABLE, route=route)
    return [
        RequestRow.from_event(g.request, ["route"])
        for g in generate(profile, n, tenant, seed, start=start, spacing_s=1)
    ]


def layout(store: MonitorStore, tenant: str) -> list[tuple]:
    return [
        (w.seq, w.kind, w.status, w.request_count, w.close_reason, w.report_status)
        for w in sorted(store.list_windows(tenant), key=lambda w: w.seq)
    ]


def members(store: MonitorStore, tenant: str) -> dict[str, list[str]]:
    return {w.id: sorted(store.window_event_ids(w.id)) for w in store.list_windows(tenant)}


def test_reference_then_tumbling_windows_by_count_each_request_once(database):
    store = MonitorStore(database.dsn, WindowSettings(reference_size=5, size=4, seconds=0, min_rows=2))
    batch = rows("acme", 15)
    for chunk in (batch[:3], batch[3:10], batch[10:]):
        store.ingest_requests(chunk)
    assert layout(store, "acme") == [
        (1, "reference", "closed", 5, "count", "none"),
        (2, "current", "closed", 4, "count", "pending"),
        (3, "current", "closed", 4, "count", "pending"),
        (4, "current", "open", 2, None, "none"),
    ]
    windows = {w.seq: w for w in store.list_windows("acme")}
    assert windows[2].reference_id == windows[3].reference_id == windows[1].id
    before = members(store, "acme")
    assert sorted(e for ids in before.values() for e in ids) == sorted(r.event_id for r in batch)

    replay = store.ingest_requests(batch[2:12] + batch[2:4])  # a replayed batch, with a repeat inside it
    assert (replay.inserted, replay.duplicates) == (0, 12)
    assert members(store, "acme") == before
    assert [s["reference_window_id"] for s in store.segments("acme")] == [windows[1].id]


def test_time_closes_windows_and_too_few_requests_skip_the_report(database):
    store = MonitorStore(database.dsn, WindowSettings(reference_size=5, size=100, seconds=60, min_rows=3))
    store.ingest_requests(rows("acme", 5))  # the reference
    store.ingest_requests(rows("acme", 2, start=T0 + timedelta(seconds=10), seed=2))
    assert store.close_expired(now=T0 + timedelta(seconds=30)) == []  # not yet due
    (closed,) = store.close_expired(now=T0 + timedelta(seconds=75))
    assert store.window(closed).close_reason == "time"
    assert store.window(closed).report_status == "skipped"  # 2 requests < min_rows

    # a request that arrives after the open window's time is up closes it in-band and opens the next one
    store.ingest_requests(rows("acme", 4, start=T0 + timedelta(seconds=100), seed=3))
    late = rows("acme", 1, start=T0 + timedelta(seconds=170), seed=4)
    result = store.ingest_requests(late)
    assert len(result.closed) == 1
    assert layout(store, "acme")[2:] == [
        (3, "current", "closed", 4, "time", "pending"),
        (4, "current", "open", 1, None, "none"),
    ]


def test_pin_and_reset_move_the_reference(database):
    store = MonitorStore(database.dsn, WindowSettings(reference_size=4, size=4, seconds=0, min_rows=2))
    store.ingest_requests(rows("acme", 4 + 4 + 4 + 1))
    first_ref, w2, w3, _ = sorted(store.list_windows("acme"), key=lambda w: w.seq)

    with pytest.raises(Conflict):
        store.pin_reference("acme", window_id=store.segments("acme")[0]["open_window_id"])  # still open
    with pytest.raises(NotFound):
        store.pin_reference("other-tenant", window_id=w2.id)  # another tenant's window
    pinned = store.pin_reference("acme")  # default: the latest closed window
    assert pinned.id == w3.id
    store.ingest_requests(rows("acme", 4, start=T0 + timedelta(minutes=5), seed=9))
    closed_after_pin = [w for w in store.list_windows("acme") if w.seq == 4][0]
    assert closed_after_pin.status == "closed" and closed_after_pin.reference_id == w3.id

    assert store.reset_reference("acme") == ["route=twin"]
    assert store.segments("acme")[0]["reference_window_id"] is None
    open_before_reset = [w for w in store.list_windows("acme") if w.seq == 5][0]
    assert (open_before_reset.status, open_before_reset.close_reason) == ("closed", "reset")
    assert open_before_reset.report_status == "skipped"  # one request: fewer than min_rows
    store.ingest_requests(rows("acme", 5, start=T0 + timedelta(minutes=9), seed=10))
    newest = sorted(store.list_windows("acme"), key=lambda w: w.seq)[-2:]
    assert [(w.kind, w.status, w.request_count) for w in newest] == [("reference", "closed", 4), ("current", "open", 1)]
    assert store.segments("acme")[0]["reference_window_id"] == newest[0].id != first_ref.id


def test_a_pinned_window_turns_a_filling_reference_into_a_current_window(database):
    store = MonitorStore(database.dsn, WindowSettings(reference_size=4, size=4, seconds=0, min_rows=2))
    store.ingest_requests(rows("acme", 8))
    ref, w2 = sorted(store.list_windows("acme"), key=lambda w: w.seq)
    store.reset_reference("acme")
    store.ingest_requests(rows("acme", 2, start=T0 + timedelta(minutes=1), seed=5))  # a new reference fills...
    store.pin_reference("acme", window_id=ref.id)  # ...until the old one is pinned again
    filling = sorted(store.list_windows("acme"), key=lambda w: w.seq)[-1]
    assert (filling.kind, filling.status, filling.request_count) == ("current", "open", 2)
    store.ingest_requests(rows("acme", 2, start=T0 + timedelta(minutes=2), seed=6))
    assert store.window(filling.id).status == "closed" and store.window(filling.id).reference_id == ref.id


def test_model_registered_resets_the_segments_it_serves_once(database):
    store = MonitorStore(database.dsn, WindowSettings(reference_size=3, size=3, seconds=0, min_rows=2))
    store.ingest_requests(rows("acme", 4) + rows("globex", 4, seed=2))
    other_model = [dataclasses.replace(r, model="another-llm") for r in rows("initech", 4, seed=3)]
    store.ingest_requests(other_model)
    event_id = uuid.uuid4().hex
    reset = store.reset_for_model(event_id, "twin-llm", "7", "champion")
    assert sorted(reset) == [("acme", "route=twin"), ("globex", "route=twin")]
    assert store.reset_for_model(event_id, "twin-llm", "7", "champion") == []  # a replayed event: nothing again
    references = {s["tenant_id"]: s["reference_window_id"] for s in store.segments()}
    assert references["acme"] is None and references["globex"] is None and references["initech"] is not None


def test_tenants_and_segments_never_share_a_window_and_feedback_joins(database):
    store = MonitorStore(database.dsn, WindowSettings(reference_size=3, size=3, seconds=0, min_rows=2))
    a, b = rows("acme", 4), rows("globex", 4, seed=2)
    chat = rows("acme", 4, route="chat", seed=3)
    store.ingest_requests(a + b + chat)
    segments = {(s["tenant_id"], s["segment"]) for s in store.segments()}
    assert segments == {("acme", "route=twin"), ("acme", "route=chat"), ("globex", "route=twin")}
    for window in store.list_windows():
        tenants = {r["tenant_id"] for r in store.window_rows(window.id)}
        routes = {r["route"] for r in store.window_rows(window.id)}
        assert tenants == {window.tenant_id} and len(routes) == 1

    rated = a[0]
    feedback = [
        FeedbackRow(uuid.uuid4().hex, rated.request_id, "acme", -1, False, T0),
        FeedbackRow(uuid.uuid4().hex, rated.request_id, "globex", 1, False, T0),  # same id, another tenant: no join
    ]
    assert store.ingest_feedback(feedback) == 2
    assert store.ingest_feedback(feedback) == 0  # idempotent on event id
    window_id = [w.id for w in store.list_windows("acme") if w.segment == "route=twin" and w.seq == 1][0]
    ratings = {r["request_id"]: r["rating"] for r in store.window_rows(window_id)}
    assert ratings[rated.request_id] == -1
    assert sum(v is not None for v in ratings.values()) == 1


def test_the_twin_monitor_command_lists_pins_and_resets(database):
    import json
    import os
    import subprocess
    import sys

    store = MonitorStore(database.dsn, WindowSettings(reference_size=4, size=4, seconds=0, min_rows=2))
    store.ingest_requests(rows("acme", 4 + 4 + 1))
    env = {**os.environ, "TWIN_PG_DATABASE": database.database, "TWIN_WINDOW_MIN_ROWS": "2"}

    def twin(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "twin_cli.main", "monitor", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    listed = twin("windows", "--tenant", "acme", "--json")
    assert listed.returncode == 0, listed.stderr
    windows = {w["seq"]: w for w in json.loads(listed.stdout)}
    assert [windows[s]["kind"] for s in (1, 2, 3)] == ["reference", "current", "current"]
    pinned = twin("pin-reference", "--tenant", "acme", "--json")
    assert pinned.returncode == 0 and json.loads(pinned.stdout)["id"] == windows[2]["id"]
    assert store.segments("acme")[0]["reference_window_id"] == windows[2]["id"]
    refused = twin("pin-reference", "--tenant", "acme", "--window", windows[3]["id"])
    assert refused.returncode == 1 and "still open" in refused.stderr
    unknown = twin("reset-reference", "--tenant", "nobody")
    assert unknown.returncode == 1 and "nobody" in unknown.stderr
    reset = twin("reset-reference", "--tenant", "acme")
    assert reset.returncode == 0 and "route=twin" in reset.stdout
    assert store.segments("acme")[0]["reference_window_id"] is None
    assert "acme" in twin("segments").stdout


def test_retention_deletes_old_windows_their_rows_reports_and_feedback_but_keeps_what_is_in_use(database, tmp_path):
    store = MonitorStore(database.dsn, WindowSettings(reference_size=5, size=4, seconds=0, min_rows=2))
    batch = rows("acme", 15)
    store.ingest_requests(batch)  # reference 1 (5), current 2 and 3 (4 each, pending), current 4 open (2)
    windows = {w.seq: w for w in store.list_windows("acme")}
    files = [tmp_path / "r1.html", tmp_path / "r1.json"]
    store.save_report(
        {
            "id": "r1",
            "tenant_id": "acme",
            "segment": windows[2].segment,
            "window_id": windows[2].id,
            "reference_window_id": windows[1].id,
            "trigger": "schedule",
            "created_at": datetime.now(UTC),
            "current_rows": 4,
            "reference_rows": 5,
            "html_path": str(files[0]),
            "json_path": str(files[1]),
            "results": [],
            "drifted_count": 0,
            "tested_count": 0,
            "build_seconds": 0.1,
        },
        [],
        scheduled=True,
    )
    in_window_2 = store.window_rows(windows[2].id)[0]["request_id"]
    store.ingest_feedback(
        [
            FeedbackRow(uuid.uuid4().hex, in_window_2, "acme", 1, False, T0),
            FeedbackRow(uuid.uuid4().hex, batch[0].request_id, "acme", -1, False, T0),  # its request stays
            FeedbackRow(uuid.uuid4().hex, "never-logged", "acme", -1, False, T0),
        ]
    )
    now = datetime.now(UTC)

    nothing = store.purge_before(now - timedelta(days=1))  # everything closed after the cutoff: all kept
    assert (nothing.windows, nothing.requests, nothing.reports, nothing.feedback) == (0, 0, 0, 0)

    first = store.purge_before(now + timedelta(days=1))
    # window 2 (reported) goes; the reference (in use), window 3 (report pending) and the open window 4 stay
    assert (first.windows, first.requests, first.reports, first.feedback) == (1, 4, 1, 2)
    assert sorted(first.report_files) == sorted(str(f) for f in files)
    assert layout(store, "acme") == [
        (1, "reference", "closed", 5, "count", "none"),
        (3, "current", "closed", 4, "count", "pending"),
        (4, "current", "open", 2, None, "none"),
    ]
    assert store.reports("acme") == []

    store.reset_reference("acme")  # the reference is no longer the segment's; windows 3 and 4 still point at it
    with store.connect() as conn:
        conn.execute("UPDATE monitor_windows SET report_status = 'done' WHERE tenant_id = 'acme'")
    second = store.purge_before(datetime.now(UTC) + timedelta(days=1))
    assert (second.windows, second.requests) == (3, 11)  # windows 3 and 4 first, then the reference they held
    assert store.list_windows("acme") == []
    with store.connect() as conn:
        assert conn.execute("SELECT count(*) AS n FROM monitor_feedback").fetchone()["n"] == 0
