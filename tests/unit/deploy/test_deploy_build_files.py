"""docker-compose.yml, skaffold.yaml and docker/service.Dockerfile agree with each other, with the chart
and with the services' own settings: every build context and Dockerfile named exists, every dependency
condition can be met, profiles patch what they claim to."""

from __future__ import annotations

import copy
import os
import re
import tomllib

import helm_python
import pytest
from deploy_support import REPO, SERVICES, container_env, find, load_yaml, settings_of

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


# ------------------------------------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose():
    return load_yaml("docker-compose.yml")


def test_compose_builds_every_service_like_skaffold(compose):
    services = compose["services"]
    for name in SERVICES:
        build = services[name]["build"]
        assert (REPO / build["context"]).is_dir()
        assert build["dockerfile"] == DOCKERFILE and (REPO / build["context"] / build["dockerfile"]).is_file()
        assert build["args"] == image_args(name)


def test_compose_dependencies_can_be_met(compose):
    services = compose["services"]
    for name, spec in services.items():
        for target, rule in spec.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            assert rule["condition"] in CONDITIONS
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}, which has no healthcheck"
    # no cycles: a topological order exists
    pending = {n: set(s.get("depends_on", {})) for n, s in services.items()}
    while pending:
        ready = [n for n, deps in pending.items() if not deps & pending.keys()]
        assert ready, f"dependency cycle among {sorted(pending)}"
        for n in ready:
            del pending[n]


def test_compose_services_get_the_settings_they_read(compose, monkeypatch):
    from twin_common.settings import KafkaSettings, PostgresSettings

    services = compose["services"]
    for name in SERVICES:
        env = {k: str(v) for k, v in services[name]["environment"].items()}
        assert env["TWIN_HTTP_HOST"] == "0.0.0.0"
        for key in [k for k in os.environ if k.startswith("TWIN_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value.replace("${TWIN_PG_PASSWORD:-twin}", "twin"))
        settings = settings_of(name)()
        assert settings.http_host == "0.0.0.0"
        assert settings.http_port == int(image_args(name)["PORT"])
        assert PostgresSettings().host == "postgres" and KafkaSettings().bootstrap_servers == "kafka:9092"
        assert "healthcheck" in services[name]


def test_compose_backing_servers(compose):
    services = compose["services"]
    assert "wal_level=logical" in services["postgres"]["command"]
    kafka_env = services["kafka"]["environment"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "debezium/connect" in services["connect"]["image"]
    assert services["qdrant"]["image"].startswith("qdrant/qdrant:")
    collector = services["otel-collector"]["volumes"][0].split(":")[0]
    assert (REPO / collector).is_file()
    config = load_yaml(collector)
    assert "otlp" in config["service"]["pipelines"]["traces"]["receivers"]


# ------------------------------------------------------------------------------------------- skaffold


@pytest.fixture(scope="module")
def skaffold():
    return load_yaml("skaffold.yaml")


def test_skaffold_artifacts_point_at_the_dockerfile(skaffold):
    assert skaffold["apiVersion"].startswith("skaffold/v4beta")
    artifacts = skaffold["build"]["artifacts"]
    assert sorted(a["image"] for a in artifacts) == sorted(f"twin-{s}" for s in SERVICES)
    for artifact in artifacts:
        path = REPO / artifact["context"] / artifact["docker"]["dockerfile"]
        assert path.is_file(), path


def test_skaffold_sets_every_image_in_the_chart(skaffold, render):
    release = skaffold["deploy"]["helm"]["releases"][0]
    assert (REPO / release["chartPath"] / "Chart.yaml").is_file()
    templates = release["setValueTemplates"]
    for artifact in skaffold["build"]["artifacts"]:
        key = artifact["image"].replace("-", "_")
        service = artifact["image"].removeprefix("twin-")
        assert templates[f"{service}.image.repository"] == f"{{{{.IMAGE_REPO_{key}}}}}"
        assert f"{{{{.IMAGE_DIGEST_{key}}}}}" in templates[f"{service}.image.tag"]
    # the chart consumes those keys: a repository set that way lands in the service's container
    objects = render({"ingest": {"image": {"repository": "r.example/ingest", "tag": "abc"}}})
    ingest = find(objects, "Deployment", "twin-ingest")[0]
    assert ingest["spec"]["template"]["spec"]["containers"][0]["image"] == "r.example/ingest:abc"
    for path in skaffold["manifests"]["kustomize"]["paths"]:
        assert (REPO / path / "kustomization.yaml").is_file()


def apply_patches(document: dict, patches: list[dict]) -> dict:
    """RFC 6902 'add' and 'replace', enough for skaffold profiles."""
    result = copy.deepcopy(document)
    for patch in patches:
        assert patch["op"] in ("add", "replace"), patch
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in patch["path"].split("/")[1:]]
        node = result
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node.insert(int(last), patch["value"])
        else:
            if patch["op"] == "replace":
                assert last in node, patch["path"]
            node[last] = patch["value"]
    return result


def profile_values(config: dict) -> dict:
    merged: dict = {}
    for key, value in config["deploy"]["helm"]["releases"][0].get("setValues", {}).items():
        # skaffold hands setValues to helm as --set key=value: parse them the way helm does
        assert isinstance(value, str), f"setValues {key}: skaffold's setValues are strings"
        merged = _deep_merge(merged, helm_python.parse_set_string(f"{key}={value}"))
    return merged


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def test_gpu_profile_builds_cuda_inference_and_schedules_the_llm_on_gpus(skaffold, render):
    profile = next(p for p in skaffold["profiles"] if p["name"] == "gpu")
    config = apply_patches(skaffold, profile["patches"])
    indexes = {a["image"]: a["docker"]["buildArgs"].get("TORCH_INDEX_URL") for a in config["build"]["artifacts"]}
    changed = {
        image for image, url in indexes.items() if url != image_args(image.removeprefix("twin-")).get("TORCH_INDEX_URL")
    }
    assert changed == {"twin-inference"}
    assert indexes["twin-inference"].rsplit("/", 1)[1].startswith("cu")
    assert "ARG TORCH_INDEX_URL" in dockerfile()
    objects = render(profile_values(config))
    llm = find(objects, "InferenceService", "twin-inference-llm")[0]
    assert llm["spec"]["predictor"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert llm["spec"]["predictor"]["priorityClassName"] == "twin-serving"


def test_dev_profile_needs_no_kserve_and_no_gpu(skaffold, render):
    profile = next(p for p in skaffold["profiles"] if p["name"] == "dev")
    config = apply_patches(skaffold, profile["patches"])
    objects = render(profile_values(config))
    assert find(objects, "InferenceService") == []
    inference = find(objects, "Deployment", "twin-inference")[0]
    assert container_env(inference["spec"]["template"]["spec"]["containers"][0])["TWIN_DEVICE"] == "cpu"
    assert "nvidia.com/gpu" not in str(objects)
    assert find(objects, "Deployment", "twin-gateway")[0]["spec"]["replicas"] == 1
