"""The telemetry table (twin_common.telemetry.catalogue.SERVICES) asserted against the real services.

The platform runs as processes (ingest, cdc, embedder, inference, the gateway, the monitor and the trainer's
consumer, on a private database, connector and topics) sending OTLP to the stack's collector; one pass of work goes
through them (documents ingested and indexed through Debezium, which the trainer counts; a generation and an
embedding over REST and gRPC; one question to the gateway, whose request log the monitor stores); then, for every
row of the table,
through the trace store's query API and the service's own endpoints: its health path answers, its /metrics has
every metric of its row, every span of its row is there with its kind and attributes, and every span said to
continue an upstream trace does. A row without a driver here, a service with no spans or no /metrics, fails.
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from pathlib import Path

import httpx
import pytest
from embedder_support import create_rig, teardown_rig
from stack_support import delete_consumer_groups
from telemetry_support import RunTraceStore, ServiceProcess, StoredSpan, free_port, wait_for
from twin_common.telemetry.catalogue import SERVICES, ServiceTelemetry
from twin_common.telemetry.catalogue import service as service_row

TENANT = "telemetry"
TESTS = Path(__file__).parents[2]  # tests/gateway_node.py: the gateway with the embedder in one process (`twin node`)
# Seven services start at once (torch imports alone take minutes on a loaded 2-core machine) and the module's
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
            "requests": f"{rig.topic_prefix}.requests",
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
        self._start_gateway_monitor_and_trainer()
        for service in self.services.values():
            service.wait_ready(timeout=900)

    def _start_gateway_monitor_and_trainer(self) -> None:
        rig, prefix = self.rig, self.rig.topic_prefix
        feedback, monitor_models = f"{prefix}.feedback", f"{prefix}.monitor-models"
        for topic in (self.topics["requests"], feedback, monitor_models, f"{prefix}.gateway-indexed"):
            _create_topic(topic)
        # the gateway indexes the documents into its own embedded store (one process per store), as `twin node`
        self.services["twin-gateway"] = ServiceProcess(
            "gateway_node",
            self.log_dir,
            {
                "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
                "TWIN_PG_DATABASE": rig.database,
                "TWIN_GRPC_PORT": str(free_port()),
                "TWIN_STORE_PATH": str(self.log_dir / "gateway-store"),
                "TWIN_TOPIC": rig.documents_topic,
                "TWIN_GROUP_ID": f"{rig.group}-gateway",
                "TWIN_INDEXED_TOPIC": f"{prefix}.gateway-indexed",
                "TWIN_BATCH_TIMEOUT_MS": "20",
                "TWIN_INGEST_URL": self.services["twin-ingest"].base_url,
                "TWIN_INFERENCE_URL": f"127.0.0.1:{self.grpc_port}",
                "TWIN_REQUEST_LOG_REQUESTS_TOPIC": self.topics["requests"],
                "TWIN_REQUEST_LOG_FEEDBACK_TOPIC": feedback,
                "TWIN_QUOTA_KEY_PREFIX": f"twin:test:{rig.suffix}:quota",
                "TWIN_WEBAPP_JOURNEY_ENABLED": "false",
                "TWIN_SEMCACHE_ENABLED": "false",  # an answer cached by an earlier run would skip the generation
            },
        )
        self.services["twin-monitor"] = ServiceProcess(
            "twin_monitor",
            self.log_dir,
            {
                "TWIN_PG_DATABASE": rig.database,
                "TWIN_REQUESTS_TOPIC": self.topics["requests"],
                "TWIN_FEEDBACK_TOPIC": feedback,
                "TWIN_MODELS_TOPIC": monitor_models,
                "TWIN_ALERTS_TOPIC": f"{prefix}.alerts",
                "TWIN_GROUP_ID": f"{rig.group}-monitor",
                "TWIN_REPORTS_DIR": str(self.log_dir / "reports"),
                "TWIN_SCHEDULE_REPORTS": "false",
            },
        )
        self.services["twin-trainer"] = ServiceProcess(
            "twin_trainer",
            self.log_dir,
            {
                "TWIN_PG_DATABASE": rig.database,
                "TWIN_INDEXED_TOPIC": rig.indexed_topic,
                "TWIN_RETRAIN_ON_DRIFT": "false",
                "TWIN_GROUP_ID": f"{rig.group}-trainer",
                "TWIN_DOCUMENTS_PER_RUN": "1000",  # counting only: no training run here
                "TWIN_WORK_DIR": str(self.log_dir / "trainer"),
            },
        )

    def drive(self) -> None:
        self._drive_ingest_and_embedder()
        self._drive_inference()
        self._drive_gateway()

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

    def _drive_gateway(self) -> None:
        """One grounded question, once the gateway's own store holds the documents (its embedder indexed them)."""
        from twin_gateway.keys.store import create_key
        from twin_gateway.settings import KeySettings

        _, key = create_key(self.rig.dsn, KeySettings().pepper.get_secret_value().encode(), TENANT)
        gateway = self.services["twin-gateway"]
        auth = {"Authorization": f"Bearer {key}"}
        wait_for(
            lambda: gateway.http.post("/v1/search", json={"query": "spans cross Kafka"}, headers=auth).json()["hits"],
            180,
            "the documents searchable through the gateway",
        )
        trace_id, traceparent = _traceparent()
        response = gateway.http.post(
            "/v1/ask",
            json={"question": "What do the telemetry notes say about Kafka?", "generation": {"max_tokens": 4}},
            headers={**auth, "traceparent": traceparent},
            timeout=300,
        )
        assert response.status_code == 200, response.text
        self.trace_ids["POST /v1/ask"] = trace_id

    @property
    def grpc_port(self) -> int:
        return int(self.services["twin-inference"].env["TWIN_GRPC_PORT"])

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()
        # the rig's own group goes with teardown_rig; these are the added services'
        delete_consumer_groups([f"{self.rig.group}-{name}" for name in ("gateway", "monitor", "trainer")])


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


def _spans(
    trace_store: RunTraceStore, platform: Platform, service: str, names: set[str], timeout: float = 90
) -> list[StoredSpan]:
    """This run's spans of `service`, once every name wanted has arrived (export is batched: poll)."""

    def arrived():
        spans = trace_store.spans_of(service, platform.started)
        return spans if names <= {s.name for s in spans} else None

    try:
        return wait_for(arrived, timeout, f"spans {sorted(names)} of {service}", interval=1.0)
    except AssertionError:
        found = sorted({s.name for s in trace_store.spans_of(service, platform.started)})
        raise AssertionError(f"{service} emitted {found or 'no spans'}; the table wants {sorted(names)}") from None


@pytest.mark.parametrize("row", SERVICES, ids=[row.service for row in SERVICES])
def test_service_emits_what_the_table_says(row: ServiceTelemetry, platform, trace_store):
    process = platform.services.get(row.service)
    assert process is not None, f"no driver runs {row.service}: add it to the Platform of this suite"
    check_row(row, process, platform, trace_store)


def test_a_service_with_no_spans_or_no_metrics_fails_its_check(platform, trace_store):
    """The check above is not vacuous: a row whose service serves no /metrics, or emits none of its spans, fails."""
    trainer = service_row("twin-trainer")
    process = platform.services["twin-trainer"]
    no_metrics = dataclasses.replace(trainer, metrics_path="/no-such-metrics")
    with pytest.raises(AssertionError, match="serves no /no-such-metrics"):
        check_row(no_metrics, process, platform, trace_store)
    silent = dataclasses.replace(trainer, service="twin-silent")  # the same process, but nothing under this name
    with pytest.raises(AssertionError, match="twin-silent emitted no spans"):
        check_row(silent, process, platform, trace_store, span_timeout=3)


def check_row(
    row: ServiceTelemetry, process: ServiceProcess, platform: Platform, trace_store: RunTraceStore, span_timeout=90
) -> None:
    """What the table says of one service, asserted against its process and the trace store."""
    assert process.http.get(row.health_path).status_code == 200
    metrics = process.http.get(row.metrics_path)
    assert metrics.status_code == 200, f"{row.service} serves no {row.metrics_path}"
    samples = [line for line in metrics.text.splitlines() if line and not line.startswith("#")]
    missing = [m.name for m in row.metrics if not any(line.startswith(m.name) for line in samples)]
    assert not missing, f"{row.service} /metrics has no sample of {missing}"  # declared but never observed fails

    wanted = row.spans_for(platform.topics)
    spans = _spans(trace_store, platform, row.service, {s.name for s in wanted}, span_timeout)
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


def _complete_trace(trace_store: RunTraceStore, trace_id: str, wanted: set[tuple[str, str]]) -> list[StoredSpan]:
    """The spans of one trace, fetched by its id, once every (service, span name) wanted is in it."""

    def complete():
        spans = trace_store.trace(trace_id)
        return spans if wanted <= {(s.service, s.name) for s in spans} else None

    try:
        return wait_for(complete, 90, f"trace {trace_id} complete", interval=1.0)
    except AssertionError:
        found = sorted({(s.service, s.name) for s in trace_store.trace(trace_id)})
        raise AssertionError(f"trace {trace_id} holds {found}; wanted {sorted(wanted)}") from None


def _ancestry(spans: list[StoredSpan], span: StoredSpan) -> list[str]:
    """`service: name` of the span and each of its parents in the trace, up to its root there."""
    by_id = {s.span_id: s for s in spans}
    chain = [f"{span.service}: {span.name}"]
    while span.parent_span_id in by_id:  # walk up: every hop is a parent in this one trace
        span = by_id[span.parent_span_id]
        chain.append(f"{span.service}: {span.name}")
    return chain


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
    spans = _complete_trace(trace_store, trace_id, wanted)
    upsert = next(s for s in spans if s.service == "twin-embedder" and s.name == "upsert twin_chunks")
    chain = _ancestry(spans, upsert)
    assert any("ingest.import" in step for step in chain), f"the upsert's ancestry {chain} misses the ingest"
    assert any("POST /v1/tenants" in step for step in chain), chain
    assert httpx.get(f"{trace_store.url}/api/traces/{trace_id}", timeout=30).status_code == 200


def test_one_trace_runs_from_a_gateway_request_to_the_generation_span(platform, trace_store):
    """Gateway request -> retrieval -> (gRPC, traceparent in the metadata) -> the inference server's GenAI
    generation span: one trace, found by the id the request carried."""
    trace_id = platform.trace_ids["POST /v1/ask"]
    wanted = {
        ("twin-gateway", "POST /v1/ask"),
        ("twin-gateway", "twin.stage.retrieve"),
        ("twin-inference", "chat twin-llm"),
    }
    spans = _complete_trace(trace_store, trace_id, wanted)
    request = next(s for s in spans if s.service == "twin-gateway" and s.name == "POST /v1/ask")
    retrieve = next(s for s in spans if s.name == "twin.stage.retrieve")
    generation = next(s for s in spans if s.service == "twin-inference" and s.name == "chat twin-llm")
    assert retrieve.attributes["twin.retrieval.hits"] > 0, "retrieval found none of the notes"
    assert generation.attributes["gen_ai.operation.name"] == "chat"
    assert generation.attributes["gen_ai.usage.output_tokens"] > 0
    for span in (retrieve, generation):
        chain = _ancestry(spans, span)
        assert chain[-1] == "twin-gateway: POST /v1/ask", f"{span.name}'s ancestry {chain} misses the request"
    assert request.parent_span_id not in {s.span_id for s in spans}  # its parent is the caller's, outside


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
