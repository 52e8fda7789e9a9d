"""What the monitor keeps of an event: the segment, the guardrail outcome, values PostgreSQL and the drift tests can
hold; deterministic alert ids and report folders that cannot escape the reports volume."""

from __future__ import annotations

import math

from twin_common.events import GuardrailOutcome, RequestLogged
from twin_monitor.records import RequestRow, guardrail_outcome, segment_of
from twin_monitor.reports import alert_id, tenant_dir


def event(**overrides) -> RequestLogged:
    fields = {"request_id": "r1", "tenant_id": "acme", "route": "twin", "prompt": "hi", "latency_ms": 12.5}
    return RequestLogged(**{**fields, **overrides})


def test_guardrail_outcome_is_the_most_severe_decision():
    assert guardrail_outcome(event()) == "none"
    rails = [
        GuardrailOutcome(rail="input.pii", decision="mask"),
        GuardrailOutcome(rail="output.toxicity", decision="retract"),
        GuardrailOutcome(rail="input.injection", decision="flag"),
    ]
    assert guardrail_outcome(event(guardrails=rails)) == "retract"


def test_segment_names_the_configured_fields():
    e = event(model="twin-llm", model_version="3")
    assert segment_of(e, ["route"]) == "route=twin"
    assert segment_of(e, ["route", "model_version"]) == "route=twin,model_version=3"
    assert segment_of(e, []) == ""


def test_row_keeps_what_postgresql_and_the_tests_can_hold():
    row = RequestRow.from_event(
        event(
            prompt="a\x00b",
            latency_ms=math.inf,
            ttft_ms=math.nan,
            query_embedding=[0.1, math.nan],
            cited_document_ids=["d1", "d2"],
        ),
        ["route"],
    )
    assert row.prompt == "a\ufffdb"  # PostgreSQL text cannot hold NUL; the request is kept
    assert row.latency_ms is None and row.ttft_ms is None
    assert row.query_embedding is None  # an embedding with a NaN cannot be compared
    assert row.cited_count == 2 and row.segment == "route=twin"


def test_event_times_without_a_zone_are_utc():
    from datetime import UTC, datetime

    row = RequestRow.from_event(event(occurred_at=datetime(2026, 12, 1, 8, 0)), ["route"])
    assert row.occurred_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_report_json_is_plain_json():
    import json
    from datetime import UTC, datetime

    import numpy as np
    from twin_monitor.reports import json_safe

    value = {
        "nan": float("nan"),
        "inf": np.float64("inf"),
        "n": np.int64(3),
        "a": np.arange(2),
        "t": datetime(2026, 1, 1, tzinfo=UTC),
    }
    assert json.loads(json.dumps(json_safe(value), allow_nan=False)) == {
        "nan": None,
        "inf": None,
        "n": 3,
        "a": [0, 1],
        "t": "2026-01-01T00:00:00+00:00",
    }


def test_alert_ids_are_deterministic_per_metric_and_window():
    a = alert_id("acme", "route=twin", "w1", "latency_ms_drift")
    assert a == alert_id("acme", "route=twin", "w1", "latency_ms_drift")
    assert (
        len(
            {
                a,
                alert_id("acme", "route=twin", "w2", "latency_ms_drift"),
                alert_id("acme", "route=twin", "w1", "ttft_ms_drift"),
            }
        )
        == 3
    )
    assert alert_id("ac", "me", "w1", "m") != alert_id("a", "cme", "w1", "m")  # fields cannot run together


def test_tenant_folders_stay_inside_the_reports_volume_and_never_collide():
    for tenant in ("..", "../../etc", "a/b", "/abs", ".hidden", ""):
        name = tenant_dir(tenant)
        assert "/" not in name and not name.startswith(".") and name not in ("", "..")
    assert tenant_dir("a/b") != tenant_dir("a_b")
    assert tenant_dir("acme") == tenant_dir("acme")
