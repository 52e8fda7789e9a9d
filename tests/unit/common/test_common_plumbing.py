import json
import logging

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from twin_common.health import HealthRegistry
from twin_common.logs import JsonFormatter
from twin_common.settings import KafkaSettings, PostgresSettings, ServiceSettings
from twin_common.telemetry import JsonLinesSpanExporter


def test_settings_come_from_environment(monkeypatch):
    monkeypatch.setenv("TWIN_KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("TWIN_PG_PORT", "6543")
    monkeypatch.setenv("TWIN_HTTP_PORT", "9999")
    assert KafkaSettings().bootstrap_servers == "k1:9092,k2:9092"
    # _env_file=None: the defaults, not the credentials a local stack in this checkout wrote to .local/stack.env
    assert PostgresSettings(_env_file=None).dsn() == "postgresql://twin:twin@127.0.0.1:6543/twin"
    assert PostgresSettings().dsn("other").endswith("/other")
    assert ServiceSettings().http_port == 9999


def test_span_file_exporter_writes_one_json_line_per_span(tmp_path):
    path = tmp_path / "spans.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(path)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("outer"):
        with tracer.start_as_current_span("inner"):
            pass
    spans = [json.loads(line) for line in path.read_text().splitlines()]
    assert [s["name"] for s in spans] == ["inner", "outer"]
    assert spans[0]["context"]["trace_id"] == spans[1]["context"]["trace_id"]
    assert spans[0]["parent_id"] == spans[1]["context"]["span_id"]


def test_json_log_lines_carry_trace_ids_and_extras():
    provider = TracerProvider()
    formatter = JsonFormatter("svc")
    record = logging.makeLogRecord(
        {"name": "x", "levelname": "INFO", "msg": "hello %s", "args": ("you",), "document_id": "d1"}
    )
    with provider.get_tracer("t").start_as_current_span("s") as span:
        entry = json.loads(formatter.format(record))
        expected_trace = format(span.get_span_context().trace_id, "032x")
    assert entry["msg"] == "hello you" and entry["service"] == "svc"
    assert entry["document_id"] == "d1"
    assert entry["trace_id"] == expected_trace
    assert "trace_id" not in json.loads(formatter.format(record))  # outside any span


def test_readiness_reports_each_check_and_fails_when_one_fails():
    from fastapi import FastAPI

    registry = HealthRegistry()
    state = {"db": True}

    async def kafka_ok() -> bool:
        return True

    def broken() -> bool:
        raise ConnectionError("down")

    registry.add("db", lambda: state["db"])
    registry.add("kafka", kafka_ok)
    app = FastAPI()
    app.include_router(registry.router())
    client = TestClient(app)
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"db": True, "kafka": True}
    state["db"] = False
    registry.add("broken", broken)
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"] == {"db": False, "kafka": True, "broken": False}
