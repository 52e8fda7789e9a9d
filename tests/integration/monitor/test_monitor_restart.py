"""SIGKILL of the monitor in the middle of a window, then a restart: every request the gateway sent is in exactly
one window (none lost, none twice), the windows hold exactly the counts they should, and the poison messages mixed
into the stream went to the dead-letter topics with their error instead of stopping it."""

from __future__ import annotations

import json
import threading
import time

import psycopg
from monitor_support import Monitor, json_values, producer, read_topic, wait_for
from twin_monitor.settings import WindowSettings
from twin_monitor.store import MonitorStore
from twin_monitor.synthetic import STABLE, generate

REFERENCE, WINDOW, TOTAL = 200, 300, 900  # reference, two full windows, one open window of 100


def _send_slowly(rig, events, poison, done: threading.Event, errors: list) -> None:
    try:
        p = producer()
        try:
            for i, g in enumerate(events):
                key = g.request.tenant_id.encode()
                p.send(rig.requests_topic, g.request.to_bytes(), key=key)
                if g.feedback is not None:
                    p.send(rig.feedback_topic, g.feedback.to_bytes(), key=key)
                if i == 400:
                    for topic, value in poison:
                        p.send(topic, value, key=key)
                if i % 25 == 24:
                    p.flush()
                    time.sleep(0.1)
            p.flush()
        finally:
            p.close()
    except Exception as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)
    finally:
        done.set()


def test_sigkill_mid_window_then_restart_loses_no_request(rig, tmp_path):
    tenant = f"acme-{rig.suffix}"
    events = generate(STABLE, TOTAL, tenant, 5)
    incomplete = json.loads(events[0].request.to_bytes())
    del incomplete["prompt"]
    bad_rating = json.loads(events[0].feedback.to_bytes()) if events[0].feedback else None
    poison = [
        (rig.requests_topic, b"\xff not json at all"),
        (rig.requests_topic, json.dumps(incomplete).encode()),
        (
            rig.feedback_topic,
            json.dumps({**(bad_rating or {}), "request_id": "r", "tenant_id": tenant, "rating": 7}).encode(),
        ),
    ]
    env = {
        "TWIN_WINDOW_REFERENCE_SIZE": str(REFERENCE),
        "TWIN_WINDOW_SIZE": str(WINDOW),
        "TWIN_WINDOW_SECONDS": "0",
        "TWIN_SCHEDULE_REPORTS": "false",  # this test is about the windows, not the reports
        "TWIN_MAX_RECORDS": "50",
    }
    store = MonitorStore(rig.dsn, WindowSettings(reference_size=REFERENCE, size=WINDOW, seconds=0))

    def stored() -> int:
        with psycopg.connect(rig.dsn) as conn:
            return conn.execute("SELECT count(*) FROM monitor_requests").fetchone()[0]

    monitor = Monitor(rig, tmp_path, {}, **env)
    done, errors = threading.Event(), []
    sender = threading.Thread(target=_send_slowly, args=(rig, events, poison, done, errors))
    try:
        monitor.wait_ready()
        sender.start()
        wait_for(lambda: stored() >= REFERENCE + 50, timeout=180, what="monitor under way")
        monitor.kill()
        at_kill = stored()
    finally:
        if monitor.proc.poll() is None:
            monitor.stop()
        sender.join(timeout=180)
    assert not errors, errors
    assert REFERENCE + 50 <= at_kill < TOTAL, at_kill  # killed inside a window, with requests still to come

    monitor = Monitor(rig, tmp_path, {}, **env)
    try:
        monitor.wait_ready()
        wait_for(lambda: stored() == TOTAL, timeout=240, what="every request stored after the restart")
    finally:
        monitor.stop()

    with psycopg.connect(rig.dsn) as conn:
        rows = conn.execute("SELECT event_id, window_id FROM monitor_requests").fetchall()
    assert sorted(e for e, _ in rows) == sorted(g.request.event_id for g in events)  # none lost, none twice
    windows = sorted(store.list_windows(tenant), key=lambda w: w.seq)
    assert [(w.kind, w.status, w.request_count) for w in windows] == [
        ("reference", "closed", REFERENCE),
        ("current", "closed", WINDOW),
        ("current", "closed", WINDOW),
        ("current", "open", TOTAL - REFERENCE - 2 * WINDOW),
    ]
    for w in windows:
        assert sum(1 for _, window_id in rows if window_id == w.id) == w.request_count
    # the order of the stream is the order of the windows: each window holds a contiguous run of requests
    position = {g.request.event_id: i for i, g in enumerate(events)}
    for w in windows:
        indexes = sorted(position[e] for e in store.window_event_ids(w.id))
        assert indexes == list(range(indexes[0], indexes[0] + len(indexes)))

    dead = json_values(read_topic(rig.requests_topic + ".dlq")) + json_values(read_topic(rig.feedback_topic + ".dlq"))
    # a poison message dead-lettered but not yet committed before the kill is dead-lettered again after it
    distinct = {(d["source_topic"], d["partition"], d["offset"]): d for d in dead}
    assert sorted(t for t, _, _ in distinct) == sorted([rig.requests_topic] * 2 + [rig.feedback_topic])
    assert all(d["error"] and d["consumer_group"] == rig.group for d in dead)
    feedback_sent = sum(1 for g in events if g.feedback is not None)
    with psycopg.connect(rig.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM monitor_feedback").fetchone()[0] == feedback_sent
