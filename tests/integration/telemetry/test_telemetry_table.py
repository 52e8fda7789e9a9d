"""The telemetry table (twin_common.telemetry.catalogue.SERVICES) asserted against the real services.

The platform runs as processes (ingest, cdc, embedder and inference, on a private database, connector and
topics) sending OTLP to the stack's collector; one pass of work goes through them (documents ingested and
indexed through Debezium, a generation and an embedding over REST and gRPC); then, for every row of the table,
through the trace store's query API and the service's own endpoints: its health path answers, its /metrics has
every metric of its row, every span of its row is there with its kind and attributes, and every span said to
continue an upstream trace does. A row without a driver here, a service with no spans or no /metrics, fails.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from embedder_support import create_rig, teardown_rig
from telemetry_support import RunTraceStore, ServiceProcess, StoredSpan, free_port, wait_for
from twin_common.telemetry.catalogue import SERVICES, ServiceTelemetry

TENANT = "telemetry"
# Four services start at once (torch imports alone take minutes on a loaded 2-core machine) and the module's
# fixture runs inside its first test's timeout: a generous one for this module.
pytestmark = pytest.mark.timeout(2400)


def _create_topic(topic: str) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from twin_common.settings import KafkaSettings

    admin = KafkaAdminClient(bootstrap_servers=KafkaSettings().bootstrap_servers)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()


def _traceparent() -> tuple[str, str]:
    trace_id = uuid.uuid4().hex
    return trace_id, f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"


class Platform:
    """The services of the table, running and driven once; what each driver did, for the checks."""

    def __init__(self, rig, log_dir):
        self.rig = rig
        self.log_dir = log_dir
        self.started = time.time()
        self.services: dict[str, ServiceProcess] = {}
        self.topics = {
            "cdc_documents": rig.documents_topic,
            "documents_indexed": rig.indexed_topic,
            "models_registered": f"{rig.topic_prefix}.models",
        }
        self.trace_ids: dict[str, str] = {}

    def start(self) -> None:
        rig = self.rig
        self.services["twin-cdc"] = ServiceProcess(
            "twin_cdc",
            self.log_dir,
            {
                "TWIN_PG_DATABASE": rig.database,
                "TWIN_CONNECTOR_NAME": rig.connector,
                "TWIN_TOPIC_PREFIX": rig.topic_prefix,
                "TWIN_SLOT_NAME": rig.slot,
                "TWIN_PUBLICATION_NAME": rig.slot,
                "TWIN_SUPERVISE_INTERVAL_S": "2",
            },
        )
        self.services["twin-ingest"] = ServiceProcess("twin_ingest", self.log_dir, {"TWIN_PG_DATABASE": rig.database})
        self.services["twin-embedder"] = ServiceProcess(
            "twin_embedder",
            self.log_dir,
            {
                "TWIN_TOPIC": rig.documents_topic,
                "TWIN_GROUP_ID": rig.group,
                "TWIN_INDEXED_TOPIC": rig.indexed_topic,
                "TWIN_STORE_PATH": str(rig.store_path),
            },
        )
        suffix = rig.suffix
        _create_topic(self.topics["models_registered"])  # the watcher subscribes before anything is sent
        self.services["twin-inference"] = ServiceProcess(
            "twin_inference",
            self.log_dir,
            {
                "TWIN_HTTP_HOST": "127.0.0.1",
                "TWIN_GRPC_PORT": str(free_port()),
                "TWIN_SERVE_RERANK": "false",
                "TWIN_EMBED_REGISTERED_NAME": f"test-tel-embed-{suffix}",
                "TWIN_LLM_REGISTERED_NAME": f"test-tel-llm-{suffix}",
                "TWIN_MODELS_TOPIC": self.topics["models_registered"],
                "TWIN_POLL_INTERVAL_S": "600",
                "TWIN_MAX_NEW_TOKENS": "16",
            },
            ready_path="/v2/health/ready",
        )
        for service in self.services.values():
            service.wait_ready(timeout=900)

    def drive(self) -> None:
        self._drive_ingest_and_embedder()
        self._drive_inference()

    def _drive_ingest_and_embedder(self) -> None:
        ingest, embedder = self.services["twin-ingest"], self.services["twin-embedder"]
        trace_id, traceparent = _traceparent()
        self.trace_ids["ingest"] = trace_id
        documents = [
            {"id": f"tel-{i}", "title": f"Note {i}", "content": f"Telemetry note {i}: spans cross Kafka. " * 20}
            for i in range(2)
        ]
        response = ingest.http.post(
            f"/v1/tenants/{TENANT}/documents",
            json={"author": "Ada", "documents": documents},
            headers={"traceparent": traceparent},
        )
        assert response.status_code == 200 and response.json()["stored"] == 2, response.text
        rows = ingest.http.get(f"/v1/tenants/{TENANT}/documents").json()
        for row in rows:
            wait_for(
                lambda row=row: embedder.http.get(f"/v1/tenants/{TENANT}/documents/{row['id']}/points").json()[
                    "points"
                ],
                180,
                f"document {row['id']} indexed",
            )

    def _drive_inference(self) -> None:
        from twin_inference_client import InferenceClient
        from twin_inference_client.schema import GenerationParams

        inference = self.services["twin-inference"]
        trace_id, traceparent = _traceparent()
        body = {
            "inputs": [
                {"name": "text_input", "datatype": "BYTES", "shape": [1, 1], "data": ["The twin says"]},
                {
                    "name": "sampling_parameters",
                    "datatype": "BYTES",
                    "shape": [1, 1],
                    "data": ['{"max_tokens": 4, "temperature": 0}'],
                },
            ]
        }
        # generous timeouts: a loaded 2-core machine generates a token every few seconds
        response = inference.http.post(
            "/v2/models/twin-llm/infer", json=body, headers={"traceparent": traceparent}, timeout=300
        )
        assert response.status_code == 200, response.text
        self.trace_ids["text_completion twin-llm"] = trace_id
        self._publish_model_registered()
        with InferenceClient(inference.base_url.removeprefix("http://"), "http", timeout_s=300) as client:
            assert client.embed(["a sentence"]).shape[0] == 1
        grpc_url = f"127.0.0.1:{self.grpc_port}"
        with InferenceClient(grpc_url, "grpc", timeout_s=300) as client:
            assert client.generate("Hello", params=GenerationParams(max_tokens=2)).text is not None

    def _publish_model_registered(self) -> None:
        """A ModelRegistered event (of a model nobody serves: nothing reloads) sent with a trace context the
        registry watcher of the inference server must continue."""
        from kafka import KafkaProducer
        from twin_common.events import ModelRegistered
        from twin_common.settings import KafkaSettings

        trace_id, traceparent = _traceparent()
        topic = self.topics["models_registered"]
        self.trace_ids[f"process {topic}"] = trace_id
        event = ModelRegistered(model_name="nobody-serves-this", version="1", model_uri="models:/x/1")
        producer = KafkaProducer(bootstrap_servers=KafkaSettings().bootstrap_servers)
        try:
            producer.send(topic, event.to_bytes(), headers=[("traceparent", traceparent.encode())]).get(timeout=60)
        finally:
            producer.close()

    @property
    def grpc_port(self) -> int:
        return int(self.services["twin-inference"].env["TWIN_GRPC_PORT"])

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()


@pytest.fixture(scope="module")
def platform(trace_store, tmp_path_factory):
    rig = create_rig(tmp_path_factory.mktemp("telemetry"))
    running = Platform(rig, tmp_path_factory.mktemp("telemetry-logs"))
    try:
        running.start()
        running.drive()
        yield running
    finally:
        running.stop()
        teardown_rig(rig)


def _spans(trace_store: RunTraceStore, platform: Platform, service: str, names: set[str]) -> list[StoredSpan]:
    """This run's spans of `service`, once every name wanted has arrived (export is batched: poll)."""

    def arrived():
        spans = trace_store.spans_of(service, platform.started)
        return spans if names <= {s.name for s in spans} else None

    try:
        return wait_for(arrived, 60, f"spans {sorted(names)} of {service}", interval=1.0)
    except AssertionError:
        found = sorted({s.name for s in trace_store.spans_of(service, platform.started)})
        raise AssertionError(f"{service} emitted {found or 'no spans'}; the table wants {sorted(names)}") from None


@pytest.mark.parametrize("row", SERVICES, ids=[row.service for row in SERVICES])
def test_service_emits_what_the_table_says(row: ServiceTelemetry, platform, trace_store):
    process = platform.services.get(row.service)
    assert process is not None, f"no driver runs {row.service}: add it to the Platform of this suite"

    assert process.http.get(row.health_path).status_code == 200
    metrics = process.http.get(row.metrics_path)
    assert metrics.status_code == 200, f"{row.service} serves no {row.metrics_path}"
    samples = [line for line in metrics.text.splitlines() if line and not line.startswith("#")]
    missing = [m.name for m in row.metrics if not any(line.startswith(m.name) for line in samples)]
    assert not missing, f"{row.service} /metrics has no sample of {missing}"  # declared but never observed fails

    wanted = row.spans_for(platform.topics)
    spans = _spans(trace_store, platform, row.service, {s.name for s in wanted})
    for expected in wanted:
        candidates = [s for s in spans if s.name == expected.name]
        matching = [s for s in candidates if s.kind == expected.kind]
        assert matching, f"{expected.name}: kind {expected.kind} wanted, found {[s.kind for s in candidates]}"
        with_attributes = [s for s in matching if all(a in s.attributes for a in expected.attributes)]
        assert with_attributes, (
            f"{expected.name} lacks attributes {[a for a in expected.attributes if a not in matching[0].attributes]}"
        )

    for hop in row.propagation_for(platform.topics):
        continued = [s for s in spans if s.name == hop.span]
        assert continued, f"no {hop.span} span"
        if hop.from_service == "caller":  # the test itself sent the traceparent
            trace_id = platform.trace_ids[hop.span]
            assert any(s.trace_id == trace_id for s in continued), f"{hop.span} did not continue the caller's trace"
            continue
        upstream = {
            (s.trace_id, s.span_id): s
            for s in trace_store.spans_of(hop.from_service, platform.started)
            if s.name == hop.from_span
        }
        assert upstream, f"no {hop.from_span} span of {hop.from_service} to continue from"
        joined = [
            s
            for s in continued
            if any((t, sid) in upstream for t, sid in s.links)
            or any(t == s.trace_id for t, _ in upstream)  # the same trace: parented (directly or not) upstream
        ]
        assert joined, f"{hop.span} of {row.service} neither continues nor links {hop.from_service} {hop.from_span}"


def test_one_trace_runs_from_the_ingest_request_to_the_qdrant_write(platform, trace_store):
    """Ingest request -> PostgreSQL commit -> (Debezium, via the row's traceparent) -> embedder batch ->
    embeddings -> Qdrant upsert -> DocumentIndexed: one trace, found by the id the request carried."""
    trace_id = platform.trace_ids["ingest"]
    wanted = {
        ("twin-ingest", "POST /v1/tenants/{tenant}/documents"),
        ("twin-ingest", "ingest.import"),
        ("twin-embedder", f"process {platform.rig.documents_topic}"),
        ("twin-embedder", "embeddings all-MiniLM-L6-v2"),
        ("twin-embedder", "upsert twin_chunks"),
        ("twin-embedder", f"send {platform.rig.indexed_topic}"),
    }

    def complete():
        spans = trace_store.trace(trace_id)
        return spans if wanted <= {(s.service, s.name) for s in spans} else None

    try:
        spans = wait_for(complete, 90, "the ingest trace complete", interval=1.0)
    except AssertionError:
        found = sorted({(s.service, s.name) for s in trace_store.trace(trace_id)})
        raise AssertionError(f"trace {trace_id} holds {found}; wanted {sorted(wanted)}") from None
    by_id = {s.span_id: s for s in spans}
    upsert = next(s for s in spans if s.name == "upsert twin_chunks")
    chain = [upsert.name]
    span = upsert
    while span.parent_span_id in by_id:  # walk up: every hop is a parent in this one trace
        span = by_id[span.parent_span_id]
        chain.append(f"{span.service}: {span.name}")
    assert span.parent_span_id == "" or span.parent_span_id not in by_id
    assert any("ingest.import" in step for step in chain), f"the upsert's ancestry {chain} misses the ingest"
    assert any("POST /v1/tenants" in step for step in chain), chain
    assert httpx.get(f"{trace_store.url}/api/traces/{trace_id}", timeout=30).status_code == 200


def test_logs_reach_the_collector_as_otlp_logs_with_trace_ids(platform, local_stack):
    """Log records of the services go through the collector (OTLP logs, written to its file) and those logged
    inside a span carry its trace id."""
    import json

    from telemetry_support import RUN_ID

    logs = local_stack.component("otelcol").telemetry_dir / "logs.jsonl"

    def records():
        found = []
        for line in logs.read_text(errors="replace").splitlines() if logs.exists() else []:
            for resource_logs in json.loads(line).get("resourceLogs", []):
                attributes = {a["key"]: a["value"] for a in resource_logs["resource"]["attributes"]}
                if attributes.get("twin.test.run", {}).get("stringValue") != RUN_ID:
                    continue
                service = attributes["service.name"]["stringValue"]
                for scope in resource_logs.get("scopeLogs", []):
                    found += [(service, r) for r in scope.get("logRecords", [])]
        return (
            found if {"twin-ingest", "twin-embedder", "twin-cdc", "twin-inference"} <= {s for s, _ in found} else None
        )

    found = wait_for(records, 60, "OTLP log records of every service")
    assert any(r.get("traceId") for _, r in found), "no log record carries a trace id"
