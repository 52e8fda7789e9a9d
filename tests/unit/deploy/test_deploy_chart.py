"""charts/twin renders with default values and with every toggle off or on; each service gets a
Deployment with probes on its real port; GPU requests appear only when asked for."""

from __future__ import annotations

import os
import re

import helm_python
import pytest
from deploy_support import (
    APP_SERVICES,
    BACKING,
    CHART,
    RELEASE,
    SERVICES,
    config_env,
    container_env,
    everything_off,
    find,
    settings_of,
)

GPU = "nvidia.com/gpu"


def deployments_by_name(objects):
    return {d["metadata"]["name"]: d for d in find(objects, "Deployment")}


def mentions_gpu(obj) -> bool:
    return GPU in str(obj)


def test_lint_has_no_errors():
    report = helm_python.lint(CHART, strict=True)
    errors = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert errors == []


def test_default_render_has_every_piece(render):
    objects = render()
    kinds = {o["kind"] for o in objects}
    assert {
        "Deployment",
        "Service",
        "StatefulSet",
        "ConfigMap",
        "Secret",
        "InferenceService",
        "Kafka",
        "KafkaNodePool",
        "KafkaConnect",
    } <= kinds
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert len(names) == len(objects), "two objects share a kind and name"
    for name in APP_SERVICES:
        assert ("Deployment", f"{RELEASE}-{name}") in names
        assert ("Service", f"{RELEASE}-{name}") in names
    for model in ("llm", "embed", "rerank"):
        assert ("InferenceService", f"{RELEASE}-inference-{model}") in names
    for server in ("postgresql", "qdrant"):
        assert ("StatefulSet", f"{RELEASE}-{server}") in names
    for server in ("redis", "mlflow", "otel-collector"):
        assert ("Deployment", f"{RELEASE}-{server}") in names


@pytest.mark.parametrize("service", APP_SERVICES)
def test_service_deployment_probes_its_own_port(render, service):
    deployment = deployments_by_name(render())[f"{RELEASE}-{service}"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    port = settings_of(service)().http_port  # the port the service listens on by default
    assert container["ports"][0] == {"name": "http", "containerPort": port, "protocol": "TCP"}
    assert container_env(container)["TWIN_HTTP_PORT"] == str(port)
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["image"] == f"localhost:5000/llm-twin/twin-{service}:0.1.0"
    assert pod["securityContext"]["runAsNonRoot"] is True
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    service_obj = find(render(), "Service", f"{RELEASE}-{service}")[0]
    assert service_obj["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_gateway_exposes_grpc_and_can_probe_it(render):
    default = deployments_by_name(render())[f"{RELEASE}-gateway"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "grpc", "containerPort": 50051, "protocol": "TCP"} in default["ports"]
    assert "httpGet" in default["livenessProbe"]
    grpc = deployments_by_name(render({"gateway": {"grpcProbe": True}}))[f"{RELEASE}-gateway"]
    container = grpc["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["grpc"] == {"port": 50051}
    assert container["readinessProbe"]["grpc"] == {"port": 50051}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_toggle_removes_only_that_service(render, service):
    values = {service: {"enabled": False}}
    if service == "cdc":
        values["kafka"] = {"connect": {"connectorResource": True}}
    objects = render(values)
    names = {o["metadata"]["name"] for o in objects}
    if service == "inference":
        assert find(objects, "InferenceService") == []
    else:
        assert f"{RELEASE}-{service}" not in names
    for other in APP_SERVICES:
        if other != service:
            assert f"{RELEASE}-{other}" in deployments_by_name(objects)


@pytest.mark.parametrize("server", sorted(BACKING))
def test_backing_server_off_uses_the_external_address(render, server):
    external = BACKING[server]["external"]
    objects = render({server: {"enabled": False, **BACKING[server]}})
    env = config_env(objects)
    component = {"otelCollector": "otel-collector"}.get(server, server)
    assert not [o for o in objects if o["metadata"]["name"] == f"{RELEASE}-{component}"]
    expected = {
        "postgresql": ("TWIN_PG_HOST", external.get("host")),
        "kafka": ("TWIN_KAFKA_BOOTSTRAP_SERVERS", external.get("bootstrapServers")),
        "redis": ("TWIN_REDIS_URL", external.get("url")),
        "qdrant": ("TWIN_QDRANT_URL", external.get("url")),
        "mlflow": ("TWIN_MLFLOW_TRACKING_URI", external.get("trackingUri")),
        "otelCollector": ("TWIN_OTEL_OTLP_ENDPOINT", external.get("endpoint")),
    }[server]
    assert env[expected[0]] == expected[1]
    if server == "kafka":
        assert not find(objects, "Kafka") and not find(objects, "KafkaConnect")
        assert env["TWIN_CONNECT_URL"] == BACKING["kafka"]["connect"]["externalUrl"]


@pytest.mark.parametrize("server", ["postgresql", "kafka", "redis"])
def test_backing_server_off_without_an_address_is_refused(chart, server):
    with pytest.raises(helm_python.HelmError, match=f"{server}.external"):
        chart.render({server: {"enabled": False}}, name=RELEASE, namespace=RELEASE)


def test_everything_off_renders_only_the_shared_config(render):
    objects = render(everything_off())
    assert sorted(o["kind"] for o in objects) == ["ConfigMap", "Secret"]


def test_chart_config_is_what_the_settings_read(render, monkeypatch):
    """The ConfigMap + Secret, fed to the real settings classes, point every service at the chart's servers."""
    from twin_common.settings import (
        ConnectSettings,
        KafkaSettings,
        MlflowSettings,
        PostgresSettings,
        RedisSettings,
        ServiceSettings,
        TelemetrySettings,
    )

    objects = render({"postgresql": {"auth": {"password": "s3cret"}}})
    for key in [k for k in os.environ if k.startswith("TWIN_")]:
        monkeypatch.delenv(key)
    for key, value in config_env(objects).items():
        monkeypatch.setenv(key, value)
    pg = PostgresSettings()
    expected = (f"{RELEASE}-postgresql", 5432, "twin", "s3cret", "twin")
    assert (pg.host, pg.port, pg.user, pg.password, pg.database) == expected
    assert KafkaSettings().bootstrap_servers == "twin-kafka-bootstrap:9092"
    assert ConnectSettings().url == "http://twin-connect-api:8083"
    assert RedisSettings().url == f"redis://{RELEASE}-redis:6379/0"
    assert MlflowSettings().tracking_uri == f"http://{RELEASE}-mlflow:5000"
    assert TelemetrySettings().otlp_endpoint == f"http://{RELEASE}-otel-collector:4317"
    assert ServiceSettings().http_host == "0.0.0.0"


def test_existing_secret_replaces_the_generated_one(render):
    objects = render({"postgresql": {"auth": {"existingSecret": "pg-credentials"}}})
    assert find(objects, "Secret") == []
    refs = deployments_by_name(objects)[f"{RELEASE}-ingest"]["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {"secretRef": {"name": "pg-credentials"}} in refs


def test_postgresql_runs_with_logical_wal(render):
    postgres = find(render(), "StatefulSet", f"{RELEASE}-postgresql")[0]
    args = postgres["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("wal_level=logical") - 1] == "-c"


# ------------------------------------------------------------------------------------------- inference


def isvc_container(isvc):
    return isvc["spec"]["predictor"]["containers"][0]


def test_no_gpu_anywhere_by_default(render):
    objects = render()
    assert [o["metadata"]["name"] for o in objects if mentions_gpu(o)] == []
    for isvc in find(objects, "InferenceService"):
        assert container_env(isvc_container(isvc))["TWIN_DEVICE"] == "cpu"
        assert "nodeSelector" not in isvc["spec"]["predictor"]


def test_gpu_only_for_models_that_ask_when_enabled(render):
    objects = render({"inference": {"gpu": {"enabled": True}}})
    with_gpu = sorted(o["metadata"]["name"] for o in objects if mentions_gpu(o))
    assert with_gpu == [f"{RELEASE}-inference-llm"]
    llm = find(objects, "InferenceService", f"{RELEASE}-inference-llm")[0]
    predictor = llm["spec"]["predictor"]
    resources = isvc_container(llm)["resources"]
    assert resources["limits"][GPU] == "1" and resources["requests"][GPU] == "1"
    assert predictor["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in predictor["tolerations"]
    assert container_env(isvc_container(llm))["TWIN_DEVICE"] == "cuda"


def test_each_inference_service_serves_only_its_model(render, monkeypatch):
    inference_settings = settings_of("inference")
    for isvc in find(render(), "InferenceService"):
        model = isvc["metadata"]["name"].rsplit("-", 1)[1]
        for key in [k for k in os.environ if k.startswith("TWIN_")]:
            monkeypatch.delenv(key)
        for key, value in container_env(isvc_container(isvc)).items():
            monkeypatch.setenv(key, value)
        settings = inference_settings()
        served = {m for m in ("llm", "embed", "rerank") if getattr(settings, f"serve_{m}")}
        assert served == {model}
        assert settings.http_port == 8105
        probe = isvc_container(isvc)["readinessProbe"]["httpGet"]
        assert probe == {"path": "/v2/health/ready", "port": 8105}


def test_without_kserve_one_deployment_serves_all_models_with_gpu_when_enabled(render):
    objects = render({"inference": {"kserve": {"enabled": False}, "gpu": {"enabled": True}}})
    assert find(objects, "InferenceService") == []
    deployment = deployments_by_name(objects)[f"{RELEASE}-inference"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = container_env(container)
    assert (env["TWIN_SERVE_LLM"], env["TWIN_SERVE_EMBED"], env["TWIN_SERVE_RERANK"]) == ("true", "true", "true")
    assert container["resources"]["limits"][GPU] == "1"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    cpu_only = render({"inference": {"kserve": {"enabled": False}}})
    assert not any(mentions_gpu(o) for o in cpu_only)


def test_triton_runtime_uses_kserve_triton_model_format(render):
    objects = render({"inference": {"runtime": "triton", "gpu": {"enabled": True}}})
    for isvc in find(objects, "InferenceService"):
        model = isvc["spec"]["predictor"]["model"]
        assert model["modelFormat"] == {"name": "triton"}
        assert model["protocolVersion"] == "v2"
        assert model["storageUri"].startswith("pvc://twin-models/triton/")
        assert "containers" not in isvc["spec"]["predictor"]
    llm = find(objects, "InferenceService", f"{RELEASE}-inference-llm")[0]
    assert llm["spec"]["predictor"]["model"]["resources"]["limits"][GPU] == "1"


def test_grpc_protocol_exposes_the_grpc_port_as_h2c(render):
    isvc = find(render({"inference": {"kserve": {"protocol": "grpc"}}}), "InferenceService")[0]
    assert isvc_container(isvc)["ports"] == [{"containerPort": 8106, "protocol": "TCP", "name": "h2c"}]


# ------------------------------------------------------------------------------------------- kafka / cdc


def test_kraft_kafka_with_node_pool(render):
    objects = render()
    kafka = find(objects, "Kafka")[0]
    pool = find(objects, "KafkaNodePool")[0]
    assert kafka["metadata"]["annotations"]["strimzi.io/node-pools"] == "enabled"
    assert "zookeeper" not in kafka["spec"]
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]


def test_connector_resource_and_cdc_service_are_exclusive(chart):
    with pytest.raises(helm_python.HelmError, match="exclusive"):
        chart.render({"kafka": {"connect": {"connectorResource": True}}}, name=RELEASE, namespace=RELEASE)


def test_kafka_connector_matches_the_cdc_service_config(render):
    from twin_cdc.connector import connector_config

    objects = render({"cdc": {"enabled": False}, "kafka": {"connect": {"connectorResource": True}}})
    connect = find(objects, "KafkaConnect")[0]
    assert connect["metadata"]["annotations"]["strimzi.io/use-connector-resources"] == "true"
    connector = find(objects, "KafkaConnector")[0]
    expected = connector_config()
    assert connector["spec"]["class"] == expected.pop("connector.class")
    assert connector["spec"]["tasksMax"] == int(expected.pop("tasks.max"))
    config = {k: str(v) for k, v in connector["spec"]["config"].items()}
    assert config["database.hostname"] == f"{RELEASE}-postgresql"
    assert config["database.password"].startswith("${secrets:")  # never the password itself
    for key in ("database.hostname", "database.port", "database.password", "topic.creation.default.replication.factor"):
        expected.pop(key)
    assert {k: config.get(k) for k in expected} == expected
    assert config["topic.prefix"] == "twin.cdc" and config["plugin.name"] == "pgoutput"


def test_connect_builds_debezium_unless_an_image_is_given(render):
    built = find(render(), "KafkaConnect")[0]["spec"]
    artifact = built["build"]["plugins"][0]["artifacts"][0]
    assert (artifact["group"], artifact["artifact"]) == ("io.debezium", "debezium-connector-postgres")
    given = find(render({"kafka": {"connect": {"image": "registry/connect:1"}}}), "KafkaConnect")[0]["spec"]
    assert given["image"] == "registry/connect:1" and "build" not in given


def test_otel_collector_exports_through_configured_exporters(render):
    import yaml

    objects = render({"otelCollector": {"exporters": {"debug": {}, "otlp": {"endpoint": "tempo:4317"}}}})
    config = yaml.safe_load(find(objects, "ConfigMap", f"{RELEASE}-otel-collector")[0]["data"]["config.yaml"])
    assert config["exporters"]["otlp"] == {"endpoint": "tempo:4317"}
    for pipeline in ("traces", "metrics", "logs"):
        assert config["service"]["pipelines"][pipeline]["exporters"] == ["debug", "otlp"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"inference": {"runtime": "tritn"}}, "/inference/runtime"),
        ({"inference": {"kserve": {"protocol": "rest"}}}, "/inference/kserve/protocol"),
        ({"inference": {"models": {"gpt": {"enabled": True, "registeredName": "x"}}}}, "'gpt' not allowed"),
        ({"gateway": {"port": "8100"}}, "/gateway/port"),
        ({"kafka": {"replicas": 0}}, "/kafka/replicas"),
    ],
)
def test_bad_values_are_refused_with_the_key_named(chart, values, message):
    with pytest.raises(helm_python.HelmValuesError, match=re.escape(message)):
        chart.render(values, name=RELEASE, namespace=RELEASE)
