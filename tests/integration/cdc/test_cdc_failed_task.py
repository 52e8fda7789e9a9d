"""A connector whose task fails on the real Connect worker: status shows it, restart_failed asks for a
restart of just that task, and registering a corrected config brings it to RUNNING."""

from __future__ import annotations

import time

import psycopg
from cdc_support import consume
from twin_cdc import connector


def test_failed_task_is_reported_restarted_and_fixed_by_an_updated_config(cdc_rig):
    broken = {**cdc_rig.config(), "publication.autocreate.mode": "disabled"}  # and no publication exists
    assert connector.register(cdc_rig.connect_url, cdc_rig.name, broken).action == "created"
    deadline = time.monotonic() + 60
    current = connector.status(cdc_rig.connect_url, cdc_rig.name)
    while not (current and current.failed) and time.monotonic() < deadline:
        time.sleep(0.25)
        current = connector.status(cdc_rig.connect_url, cdc_rig.name)
    assert current.failed and current.task_states == ["FAILED"]
    assert any("Publication autocreation is disabled" in trace for trace in current.traces)
    assert connector.restart_failed(cdc_rig.connect_url, cdc_rig.name) is True

    assert connector.register(cdc_rig.connect_url, cdc_rig.name, cdc_rig.config()).action == "updated"
    assert connector.wait_running(cdc_rig.connect_url, cdc_rig.name, timeout=60).running
    assert connector.restart_failed(cdc_rig.connect_url, cdc_rig.name) is False
    with psycopg.connect(cdc_rig.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO tenants (id) VALUES ('after-fix')")
    records = consume(cdc_rig.topic("tenants"), lambda r: any(v and v["after"]["id"] == "after-fix" for _, v, *_ in r))
    assert [v["op"] for _, v, *_ in records if v["after"]["id"] == "after-fix"] == ["c"]  # streamed after the fix
