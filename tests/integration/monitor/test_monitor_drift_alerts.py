"""Drift through Kafka, end to end: three tenants send the gateway's events to the real broker; the monitor process
fills a reference per tenant, then reports on each window.

- stable: three windows of the same traffic as its reference -> no alert (the false-alarm rate is printed);
- topic shift: another topic in another language with longer prompts -> alerts on the query embeddings, the prompt
  texts and lengths, never on TTFT, TPOT or the model version;
- slow model: the same questions served by a new, slower model version -> alerts on latency, TTFT, TPOT and the
  model version, never on the texts or the embeddings.

Alerts arrive on the alerts topic once per metric per window (an on-demand re-run of a window repeats none), the
reports are served over HTTP (Evidently's page, checked for the metric names) to their tenant's key only, and every
score is on /metrics. A ModelRegistered event for the champion resets the references of the segments it serves.

Query embeddings are the synthetic traffic's hashed bag-of-words vectors (384-d, like MiniLM's): the drift tests
score them like MiniLM's (stable windows: classifier ROC AUC 0.43-0.54, MMD <= 0.0004; shifted: 1.0 and 0.37), and
the test needs no model. benchmarks/monitor_bench.py measures the false-alarm rate with MiniLM.
"""

from __future__ import annotations

import pytest
from monitor_support import ADMIN, Monitor, json_values, make_keys, produce, read_topic, wait_for
from twin_common.events import ModelRegistered
from twin_monitor.reports import alert_id
from twin_monitor.synthetic import SLOW_MODEL, STABLE, TOPIC_SHIFT, generate

REFERENCE, WINDOW, STABLE_WINDOWS = 200, 150, 3

CONTENT = {
    "prompt_text_drift",
    "prompt_length_drift",
    "prompt_words_drift",
    "query_embedding_model_drift",
    "query_embedding_mmd_drift",
}
SPEED = {"latency_ms_drift", "ttft_ms_drift", "tpot_ms_drift", "model_version_drift"}


@pytest.mark.timeout(1500)  # six Evidently reports: minutes on a busy 2-core machine
def test_only_shifted_streams_raise_alerts_naming_the_right_metrics(rig, tmp_path):
    tenants = {name: f"{name}-{rig.suffix}" for name in ("stable", "topic", "slow")}
    keys = make_keys(rig, list(tenants.values()))
    key_of = {tenant: key for key, tenant in keys.items()}
    traffic = {
        "stable": generate(STABLE, REFERENCE + STABLE_WINDOWS * WINDOW, tenants["stable"], 11),
        "topic": generate(STABLE, REFERENCE, tenants["topic"], 21)
        + generate(TOPIC_SHIFT, WINDOW, tenants["topic"], 22),
        "slow": generate(STABLE, REFERENCE, tenants["slow"], 31) + generate(SLOW_MODEL, WINDOW, tenants["slow"], 32),
    }
    monitor = Monitor(
        rig,
        tmp_path,
        keys,
        TWIN_WINDOW_REFERENCE_SIZE=str(REFERENCE),
        TWIN_WINDOW_SIZE=str(WINDOW),
        TWIN_WINDOW_SECONDS="0",
    )
    try:
        monitor.wait_ready()
        produce(rig, [g for name in ("topic", "slow", "stable") for g in traffic[name]])
        expected_reports = STABLE_WINDOWS + 2
        reports = wait_for(
            lambda: (r := monitor.json("/v1/reports", limit=50)["reports"]) and len(r) >= expected_reports and r,
            timeout=1200,
            interval=2,
            what=f"{expected_reports} reports",
        )
        by_tenant = {name: [r for r in reports if r["tenant_id"] == t] for name, t in tenants.items()}
        assert [len(by_tenant[n]) for n in ("stable", "topic", "slow")] == [STABLE_WINDOWS, 1, 1]

        # --- which metrics drifted --------------------------------------------------------------------------
        stable_tests = sum(r["tested"] for r in by_tenant["stable"])
        stable_alarms = [m for r in by_tenant["stable"] for m in r["drifted"]]
        print(
            f"\nfalse alarms: {len(stable_alarms)} of {STABLE_WINDOWS} stable windows x metrics tested "
            f"= {stable_tests} tests ({stable_alarms or 'none'})"
        )
        assert stable_alarms == []
        (topic,), (slow,) = by_tenant["topic"], by_tenant["slow"]
        assert CONTENT <= set(topic["drifted"]), topic["drifted"]
        assert not ({"ttft_ms_drift", "tpot_ms_drift", "model_version_drift"} & set(topic["drifted"])), topic
        assert SPEED <= set(slow["drifted"]), slow["drifted"]
        assert not (CONTENT & set(slow["drifted"])), slow["drifted"]

        # --- alerts on Kafka: one per drifted metric per window, none for the stable tenant -------------------
        def alerts() -> list[dict]:
            return json_values(read_topic(rig.alerts_topic))

        expected_alerts = len(topic["drifted"]) + len(slow["drifted"])
        published = wait_for(lambda: (a := alerts()) and len(a) >= expected_alerts and a, timeout=60)
        assert len(published) == expected_alerts
        assert {a["tenant_id"] for a in published} == {tenants["topic"], tenants["slow"]}
        for report in (topic, slow):
            mine = [a for a in published if a["window_id"] == report["window_id"]]
            assert sorted(a["metric"] for a in mine) == sorted(report["drifted"])
            for a in mine:
                assert a["alert_id"] == alert_id(
                    report["tenant_id"], report["segment"], report["window_id"], a["metric"]
                )
                assert a["report_id"] == report["id"] and a["model_version"] in ("1", "2")
        assert len({a["alert_id"] for a in published}) == len(published)

        # an on-demand re-run of the shifted window: a new report, no repeated alert
        rerun = monitor.http.post(
            "/v1/reports",
            json={"window_id": topic["window_id"]},
            headers={"Authorization": f"Bearer {key_of[tenants['topic']]}"},
        )
        assert rerun.status_code == 201, rerun.text
        assert rerun.json()["trigger"] == "demand" and set(rerun.json()["drifted"]) == set(topic["drifted"])
        assert len(alerts()) == expected_alerts

        # --- the reports over HTTP, to their tenant only ----------------------------------------------------
        topic_key = {"Authorization": f"Bearer {key_of[tenants['topic']]}"}
        page = monitor.get(f"/reports/{topic['id']}", headers=topic_key)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        for column in ("query_embedding", "prompt_length", "prompt_words", "latency_ms", "ttft_ms", "feedback"):
            assert column in page.text, column
        assert "Drift in embeddings" in page.text
        slow_page = monitor.get(f"/reports/{slow['id']}", headers=topic_key)
        assert slow_page.status_code == 404  # another tenant's report reads as absent
        assert monitor.get(f"/v1/reports/{slow['id']}", headers=topic_key).status_code == 404
        assert monitor.http.get(f"/reports/{topic['id']}").status_code == 401
        document = monitor.get(f"/v1/reports/{topic['id']}", headers=topic_key).json()
        assert {r["metric"] for r in document["results"] if r["drifted"]} == set(topic["drifted"])
        assert document["evidently"]["queries"]["metrics"]  # Evidently's own JSON of the embeddings run

        index = monitor.get("/reports", headers=topic_key).text
        assert topic["id"] in index and f"/windows/{topic['window_id']}" in index and "tenant=topic-" in index
        assert all(r["id"] not in index for r in by_tenant["stable"] + [slow])
        window_page = monitor.get(f"/windows/{topic['window_id']}", headers=topic_key).text
        assert topic["id"] in window_page and "prompt_text_drift" in window_page
        admin_index = monitor.get("/reports", headers=ADMIN).text
        assert all(r["id"] in admin_index for r in reports)
        files = list(rig.reports_dir.glob("*/*"))  # HTML and JSON of every report, the re-run included
        assert len(files) == 2 * (len(reports) + 1), files

        # --- every drift score on /metrics --------------------------------------------------------------------
        metrics = monitor.http.get("/metrics").text
        for tenant in tenants.values():
            assert f'metric="query_embedding_mmd_drift",segment="route=twin",tenant="{tenant}"' in metrics
        assert (
            f'twin_monitor_drift_detected{{method="abs_text_content_drift",metric="prompt_text_drift",'
            f'segment="route=twin",tenant="{tenants["topic"]}"}} 1.0' in metrics
        )

        # --- a new champion resets the references of the segments it serves -----------------------------------
        champion = ModelRegistered(model_name="twin-llm", version="3", alias="champion", model_uri="models:/twin-llm/3")
        produce(rig, [], extra=[(rig.models_topic, champion.to_bytes())])
        wait_for(
            lambda: all(s["reference_window_id"] is None for s in monitor.json("/v1/segments")["segments"]),
            timeout=60,
            what="references reset by ModelRegistered",
        )
    finally:
        monitor.stop()
