"""The compose layers, skaffold.yaml and the Dockerfiles agree with each other, with the chart and with the
services' own settings: every build context and Dockerfile named exists, every dependency condition can be met
and is needed, only the gateway and the UIs are published (on 127.0.0.1), no credential has a default, profiles
patch what they claim to."""

from __future__ import annotations

import os
import re
import tomllib

import helm_python
import pytest
from deploy_support import (
    COMPOSE_FILES,
    REPO,
    SECRET_KEYS,
    SERVICES,
    compose_interpolate,
    compose_merge,
    compose_model,
    container_env,
    dot_env,
    find,
    json_patch,
    load_yaml,
    render_chart,
    settings_of,
)

TORCH_SERVICES = {"embedder", "trainer", "inference"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


# ------------------------------------------------------------------------------------------- Dockerfile

DOCKERFILE = "docker/service.Dockerfile"


def dockerfile() -> str:
    return (REPO / DOCKERFILE).read_text()


def image_args(service: str) -> dict[str, str]:
    """The build arguments skaffold.yaml gives the service's image."""
    artifact = next(a for a in load_yaml("skaffold.yaml")["build"]["artifacts"] if a["image"] == f"twin-{service}")
    return artifact["docker"]["buildArgs"]


def test_one_dockerfile_builds_every_service_as_non_root():
    text = dockerfile()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.MULTILINE) and len(froms) == 2
    user = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert user and user[-1].split(":")[0] not in ("0", "root")
    assert re.search(r"^HEALTHCHECK .*IMAGE_HEALTH_PATH", text.replace("\\\n", " "), re.MULTILINE)
    assert re.search(r'^ENTRYPOINT \["twin-service"\]', text, re.MULTILINE)
    assert 'ln -s "/opt/venv/bin/twin-${SERVICE}" /opt/venv/bin/twin-service' in text
    assert "TWIN_HTTP_PORT=${PORT}" in text and "TWIN_HTTP_HOST=0.0.0.0" in text
    for copied in re.findall(r"^COPY (?!--from)(.+)$", text, re.MULTILINE):
        for source in copied.split()[:-1]:
            source = source.replace("${SERVICE}", "ingest")
            assert (REPO / source).exists(), f"COPY source {source} does not exist"


@pytest.mark.parametrize("service", SERVICES)
def test_build_arguments_match_the_service(service):
    args = image_args(service)
    assert args["SERVICE"] == service
    scripts = tomllib.loads((REPO / "services" / service / "pyproject.toml").read_text())["project"]["scripts"]
    assert f"twin-{service}" in scripts  # what the entrypoint links to
    assert int(args["PORT"]) == settings_of(service)().http_port
    assert args.get("HEALTH_PATH", "/healthz") == ("/v2/health/live" if service == "inference" else "/healthz")


@pytest.mark.parametrize("service", SERVICES)
def test_image_installs_every_repository_package_its_service_declares(service):
    from local_packages import install_paths, local_projects

    paths = install_paths(service)
    assert paths[-1] == f"./services/{service}" and "./libs/common" in paths
    projects = local_projects()
    for dependency in projects[f"twin-{service}"][1]:
        assert f"./{projects[dependency][0]}" in paths
    for path in paths:
        assert (REPO / path / "pyproject.toml").is_file()


def test_local_packages_follow_transitive_dependencies_and_refuse_unknown_ones(tmp_path):
    from local_packages import install_paths

    def project(folder: str, name: str, deps: list[str]) -> None:
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "pyproject.toml").write_text(f'[project]\nname = "{name}"\ndependencies = {deps!r}\n')

    project("libs/common", "twin-common", ["pydantic>=2"])
    project("libs/search", "twin-search", ["twin-common", "numpy==2.0"])
    project("services/worker", "twin-worker", ["twin-search", "twin-common[extra]", "httpx"])
    project("services/broken", "twin-broken", ["twin-missing"])
    assert install_paths("worker", tmp_path) == ["./libs/common", "./libs/search", "./services/worker"]
    with pytest.raises(SystemExit, match="twin-missing"):
        install_paths("broken", tmp_path)


@pytest.mark.parametrize("service", SERVICES)
def test_torch_only_where_needed_and_cpu_by_default(service):
    args = image_args(service)
    if service in TORCH_SERVICES:
        assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    else:
        assert "TORCH_INDEX_URL" not in args
    # the torch step installs the locked version
    assert re.search(r"^torch==\S+", (REPO / "requirements.lock").read_text(), re.MULTILINE)
    assert "grep '^torch==' requirements.lock" in dockerfile()


def test_connect_image_adds_the_checked_debezium_plugin_to_strimzis_kafka_image():
    text = (REPO / "docker" / "connect.Dockerfile").read_text()
    assert re.search(r"^FROM quay\.io/strimzi/kafka:\$\{STRIMZI_VERSION\}-kafka-\$\{KAFKA_VERSION\}$", text, re.M)
    add = re.search(r"^ADD --checksum=sha256:([0-9a-f]{64}) \\\n\s+(\S+) \\", text, re.M)
    assert add, "the plugin archive is fetched with its checksum"
    assert add[2].startswith("https://repo1.maven.org/maven2/io/debezium/debezium-connector-postgres/")
    assert "/opt/kafka/plugins" in text and re.findall(r"^USER (\S+)", text, re.M)[-1] == "1001"


def test_mlflow_image_installs_the_locked_mlflow_as_non_root():
    text = (REPO / "docker" / "mlflow.Dockerfile").read_text()
    assert "-c requirements.lock -r mlflow-requirements.txt" in text
    requirements = (REPO / "docker" / "mlflow-requirements.txt").read_text()
    assert re.search(r"^mlflow\[auth\]$", requirements, re.M), "mlflow unpinned here: the lock pins it"
    user = re.findall(r"^USER (\S+)", text, re.M)[-1]
    assert user.split(":")[0] not in ("0", "root")
    assert re.search(r'^ENTRYPOINT \["mlflow"\]', text, re.M)
    for source in ("requirements.lock", "docker/mlflow-requirements.txt"):
        assert (REPO / source).is_file()


# ------------------------------------------------------------------------------------------- compose

CREDENTIALS = {key: f"test-{key.lower()}" for key in SECRET_KEYS}


@pytest.fixture(scope="module")
def compose():
    """The three layers merged and interpolated (.env for versions and ports, test credentials)."""
    return compose_model(COMPOSE_FILES, CREDENTIALS)


def test_usage_header_names_every_layer():
    header = (REPO / "docker-compose.yml").read_text().split("\nname:")[0]
    for name in COMPOSE_FILES:
        assert name in header
    for key in SECRET_KEYS:
        assert key in header, f"the header says how to give {key}"


def test_compose_builds_every_service_like_skaffold(compose):
    services = compose["services"]
    for name in SERVICES:
        build = services[name]["build"]
        assert (REPO / build["context"]).is_dir()
        assert build["dockerfile"] == DOCKERFILE and (REPO / build["context"] / build["dockerfile"]).is_file()
        assert build["args"] == image_args(name)
    assert services["mlflow"]["build"]["dockerfile"] == "docker/mlflow.Dockerfile"


def test_compose_dependencies_can_be_met_and_are_needed(compose):
    services = compose["services"]
    for name, spec in services.items():
        env = " ".join(str(v) for v in spec.get("environment", {}).values())
        for target, rule in spec.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            assert rule["condition"] in CONDITIONS
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}, which has no healthcheck"
            if name in SERVICES or target in SERVICES:  # a twin service waits only for what it talks to
                assert re.search(rf"\b{target}\b", env), f"{name} waits for {target} but never uses it"
    # no cycles: a topological order exists
    pending = {n: set(s.get("depends_on", {})) for n, s in services.items()}
    while pending:
        ready = [n for n, deps in pending.items() if not deps & pending.keys()]
        assert ready, f"dependency cycle among {sorted(pending)}"
        for n in ready:
            del pending[n]


@pytest.mark.parametrize("service", SERVICES)
def test_compose_services_get_the_settings_they_read(compose, service, monkeypatch):
    from twin_common.settings import InternalAuthSettings, KafkaSettings, PostgresSettings, TelemetrySettings

    env = {k: str(v) for k, v in compose["services"][service]["environment"].items()}
    assert env["TWIN_HTTP_HOST"] == "0.0.0.0"
    for key in [k for k in os.environ if k.startswith(("TWIN_", "MLFLOW_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("TWIN_STACK_HOME", "/nonexistent")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = settings_of(service)()
    assert settings.http_host == "0.0.0.0"
    assert settings.http_port == int(image_args(service)["PORT"])
    assert PostgresSettings().host == "postgres" and KafkaSettings().bootstrap_servers == "kafka:9092"
    assert InternalAuthSettings().service_token.get_secret_value() == CREDENTIALS["TWIN_SERVICE_TOKEN"]
    assert TelemetrySettings().otlp_endpoint == "http://otel-collector:4317"  # the observability layer
    if service == "cdc":  # a reference Connect resolves, never the password
        assert PostgresSettings().password == "${env:TWIN_PG_PASSWORD}"
        connect = compose["services"]["connect"]["environment"]
        assert connect["CONNECT_CONFIG_PROVIDERS_ENV_CLASS"].endswith("EnvVarConfigProvider")
        assert connect["TWIN_PG_PASSWORD"] == CREDENTIALS["TWIN_PG_PASSWORD"]
    elif "TWIN_PG_PASSWORD" in env:
        assert PostgresSettings().password == CREDENTIALS["TWIN_PG_PASSWORD"]
    assert "healthcheck" in compose["services"][service]


def test_no_credential_has_a_default():
    """Every credential is required from the caller's environment: compose stops with a message when one is
    missing, and no file carries a default password."""
    for name in COMPOSE_FILES:
        text = (REPO / name).read_text()
        for key in SECRET_KEYS:
            for match in re.finditer(rf"\$\{{{key}([^}}]*)\}}", text):
                assert match[1].startswith(":?"), f"{name}: ${{{key}{match[1]}}} has a default"
    for key in SECRET_KEYS:
        with pytest.raises(KeyError, match=key):
            compose_model(COMPOSE_FILES, {k: v for k, v in CREDENTIALS.items() if k != key})


def test_only_the_gateway_and_the_uis_are_published_on_loopback(compose):
    ports = dot_env()
    published = {}
    for name, spec in compose["services"].items():
        for entry in spec.get("ports", []):
            host, host_port, container_port = str(entry).split(":")
            assert host == "127.0.0.1", f"{name} publishes {entry} beyond loopback"
            published[name] = published.get(name, []) + [(int(host_port), int(container_port))]
    gateway = settings_of("gateway")()
    assert published == {
        "gateway": [
            (int(ports["GATEWAY_HTTP_PORT"]), gateway.http_port),
            (int(ports["GATEWAY_GRPC_PORT"]), gateway.grpc_port),
        ],
        "monitor": [(int(ports["MONITOR_UI_PORT"]), settings_of("monitor")().http_port)],
        "mlflow": [(int(ports["MLFLOW_UI_PORT"]), 5000)],
        "jaeger": [(int(ports["TRACE_UI_PORT"]), 16686)],
    }


def test_compose_backing_servers(compose):
    services = compose["services"]
    assert "wal_level=logical" in services["postgres"]["command"]
    init = [v for v in services["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in v][0].split(":")[0]
    assert "CREATE DATABASE mlflow" in "".join(p.read_text() for p in (REPO / init).iterdir())
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    # the data volume is where Kafka writes its log
    assert [v.split(":")[1] for v in kafka["volumes"]] == [kafka["environment"]["KAFKA_LOG_DIRS"]]
    assert "debezium/connect" in services["connect"]["image"]
    assert services["qdrant"]["image"].startswith("qdrant/qdrant:")
    assert "/opt/redis-stack/lib/redisearch.so" in services["redis"]["command"]
    assert "--app-name=basic-auth" in services["mlflow"]["command"]
    auth = [v for v in services["mlflow"]["volumes"] if "basic_auth.ini" in v][0].split(":")[0]
    assert "database_uri = sqlite:////mlflow/basic_auth.db" in (REPO / auth).read_text()
    collector = services["otel-collector"]["volumes"][0].split(":")[0]
    config = load_yaml(collector)
    traces = config["service"]["pipelines"]["traces"]
    assert "otlp" in traces["receivers"] and config["exporters"]["otlp_grpc/trace_store"]["endpoint"] == "jaeger:4317"
    monitor = services["monitor"]
    assert monitor["environment"]["TWIN_REPORTS_DIR"] == monitor["volumes"][0].split(":")[1] == "/var/lib/twin"
    assert "install -d -o 10001 -g 10001 /var/lib/twin" in dockerfile()  # so the named volume is the service's


def test_layers_stand_on_their_own():
    """The backing layer alone is a complete project; the services layer needs only it."""
    backing = load_yaml(COMPOSE_FILES[0])["services"]
    for spec in backing.values():
        assert set(spec.get("depends_on", {})) <= set(backing)
    both = compose_merge(load_yaml(COMPOSE_FILES[0]), load_yaml(COMPOSE_FILES[1]))["services"]
    for spec in both.values():
        assert set(spec.get("depends_on", {})) <= set(both)
    assert compose_interpolate("$${env:X} ${A:-b}", {}) == "${env:X} b"


# ------------------------------------------------------------------------------------------- skaffold


@pytest.fixture(scope="module")
def skaffold():
    return load_yaml("skaffold.yaml")


def test_skaffold_artifacts_point_at_the_dockerfiles(skaffold):
    artifacts = skaffold["build"]["artifacts"]
    assert sorted(a["image"] for a in artifacts) == sorted(
        [f"twin-{s}" for s in SERVICES] + ["twin-connect", "twin-mlflow"]
    )
    for artifact in artifacts:
        path = REPO / artifact["context"] / artifact["docker"]["dockerfile"]
        assert path.is_file(), path


def test_skaffold_sets_every_image_in_the_chart(skaffold, render):
    release = skaffold["deploy"]["helm"]["releases"][0]
    assert (REPO / release["chartPath"] / "Chart.yaml").is_file()
    templates = release["setValueTemplates"]
    keys = {"twin-connect": "kafka.connect", "twin-mlflow": "mlflow"}
    for artifact in skaffold["build"]["artifacts"]:
        key = artifact["image"].replace("-", "_")
        prefix = keys.get(artifact["image"], artifact["image"].removeprefix("twin-"))
        assert templates[f"{prefix}.image.repository"] == f"{{{{.IMAGE_REPO_{key}}}}}"
        assert f"{{{{.IMAGE_DIGEST_{key}}}}}" in templates[f"{prefix}.image.tag"]
    # the chart consumes those keys: images set that way land in the containers
    values = {}
    for key, template in templates.items():
        values = _deep_merge(
            values, helm_python.parse_set_string(f"{key}={template.replace('{{', '').replace('}}', '')}")
        )
    objects = render(values)
    images = {
        c["image"]
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet")
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    images |= {c["image"] for o in find(objects, "InferenceService") for c in o["spec"]["predictor"]["containers"]}
    images.add(find(objects, "KafkaConnect")[0]["spec"]["image"])
    for artifact in skaffold["build"]["artifacts"]:
        key = artifact["image"].replace("-", "_")
        assert f".IMAGE_REPO_{key}:.IMAGE_TAG_{key}@.IMAGE_DIGEST_{key}" in images, artifact["image"]


def test_skaffold_applies_k8s_before_the_release(skaffold):
    """skaffold runs its helm deployer before a kubectl deployer: the namespace and priority classes come from a
    hook that runs before the release, in every profile."""
    assert "kubectl" not in skaffold["deploy"] and "manifests" not in skaffold
    for name, config in profile_configs(skaffold).items():
        command = config["deploy"]["helm"]["hooks"]["before"][0]["host"]["command"]
        assert command[:3] == ["kubectl", "apply", "-k"]
        assert (REPO / command[3] / "kustomization.yaml").is_file(), name
        for values_file in config["deploy"]["helm"]["releases"][0].get("valuesFiles", []):
            assert values_file.startswith(command[3]), f"{name}: values and manifests of one overlay"


def profile_configs(skaffold) -> dict[str, dict]:
    configs = {"default": skaffold}
    for profile in skaffold["profiles"]:
        configs[profile["name"]] = json_patch(skaffold, profile["patches"])
    return configs


def profile_values(config: dict) -> dict:
    release = config["deploy"]["helm"]["releases"][0]
    merged: dict = {}
    for values_file in release.get("valuesFiles", []):
        merged = _deep_merge(merged, load_yaml(values_file))
    for key, value in release.get("setValues", {}).items():
        # skaffold hands setValues to helm as --set key=value: parse them the way helm does
        assert isinstance(value, str), f"setValues {key}: skaffold's setValues are strings"
        merged = _deep_merge(merged, helm_python.parse_set_string(f"{key}={value}"))
    return merged


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def torch_indexes(config) -> dict[str, str | None]:
    return {a["image"]: a["docker"].get("buildArgs", {}).get("TORCH_INDEX_URL") for a in config["build"]["artifacts"]}


@pytest.mark.parametrize("name", ["gpu", "prod"])
def test_gpu_profiles_build_cuda_inference_and_schedule_the_llm_on_gpus(skaffold, chart, name):
    config = profile_configs(skaffold)[name]
    before, after = torch_indexes(skaffold), torch_indexes(config)
    assert {image for image in after if after[image] != before[image]} == {"twin-inference"}
    assert after["twin-inference"].rsplit("/", 1)[1].startswith("cu")
    assert "ARG TORCH_INDEX_URL" in dockerfile()
    objects = render_chart(chart, profile_values(config))
    llm = find(objects, "InferenceService", "twin-inference-llm")[0]
    assert llm["spec"]["predictor"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert llm["spec"]["predictor"]["priorityClassName"] == "twin-serving"


def test_dev_profile_needs_no_kserve_and_no_gpu(skaffold, chart):
    objects = render_chart(chart, profile_values(profile_configs(skaffold)["dev"]))
    assert find(objects, "InferenceService") == []
    inference = find(objects, "Deployment", "twin-inference")[0]
    assert container_env(inference["spec"]["template"]["spec"]["containers"][0])["TWIN_DEVICE"] == "cpu"
    assert "nvidia.com/gpu" not in str(objects)
    assert find(objects, "Deployment", "twin-gateway")[0]["spec"]["replicas"] == 1
    assert find(objects, "HorizontalPodAutoscaler") == []


def test_prod_profile_replicates_scales_and_publishes_with_tls(skaffold, chart):
    objects = render_chart(chart, profile_values(profile_configs(skaffold)["prod"]))
    assert find(objects, "KafkaNodePool")[0]["spec"]["replicas"] == 3
    assert find(objects, "Kafka")[0]["spec"]["kafka"]["config"]["min.insync.replicas"] == 2
    assert {s["metadata"]["name"] for s in find(objects, "ScaledObject")} == {"twin-embedder", "twin-monitor"}
    assert find(objects, "HorizontalPodAutoscaler", "twin-gateway")[0]["spec"]["minReplicas"] >= 3
    assert find(objects, "Ingress", "twin-gateway")[0]["spec"]["tls"]


def test_repository_packages_pin_what_the_lock_pins():
    """Every image installs its packages with requirements.lock as constraints: a pin in a pyproject.toml that
    contradicts the lock makes `docker build` fail (make env installs with --no-deps and would not notice)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lock = {
        canonicalize_name(m[1]): m[2]
        for m in re.finditer(
            r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", (REPO / "requirements.lock").read_text(), re.M
        )
    }
    conflicts = []
    for pyproject in sorted([*REPO.glob("libs/*/pyproject.toml"), *REPO.glob("services/*/pyproject.toml")]):
        for dependency in tomllib.loads(pyproject.read_text())["project"].get("dependencies", []):
            requirement = Requirement(dependency)
            locked = lock.get(canonicalize_name(requirement.name))
            if locked and not requirement.specifier.contains(locked, prereleases=True):
                conflicts.append(f"{pyproject.relative_to(REPO)}: {dependency} (lock: {locked})")
    assert conflicts == []
