"""docker-compose.yml, skaffold.yaml and the service Dockerfiles agree with each other, with the chart
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


# ------------------------------------------------------------------------------------------- Dockerfiles


def dockerfile(service: str) -> str:
    return (REPO / "services" / service / "Dockerfile").read_text()


def test_every_service_folder_has_a_dockerfile():
    folders = sorted(p.name for p in (REPO / "services").iterdir() if (p / "pyproject.toml").exists())
    assert folders == sorted(SERVICES)
    for name in folders:
        assert (REPO / "services" / name / "Dockerfile").is_file()


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_builds_its_service_as_non_root(service):
    text = dockerfile(service)
    froms = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.MULTILINE) and len(froms) == 2
    user = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert user and user[-1].split(":")[0] not in ("0", "root")
    assert re.search(r"^HEALTHCHECK .*", text, re.MULTILINE)
    entrypoint = re.search(r'^ENTRYPOINT \["([^"]+)"\]', text, re.MULTILINE).group(1)
    scripts = tomllib.loads((REPO / "services" / service / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == f"twin-{service}" and entrypoint in scripts
    port = settings_of(service)().http_port
    assert re.search(rf"^\s+TWIN_HTTP_PORT={port}\b", text, re.MULTILINE)
    assert str(port) in re.search(r"^EXPOSE (.+)$", text, re.MULTILINE).group(1).split()
    assert "TWIN_HTTP_HOST=0.0.0.0" in text
    installs = " ".join(re.findall(r"uv pip install (.+?)(?:\n(?!\s)|$)", text.replace("\\\n", " "), re.DOTALL))
    for package in ("./libs/common", "./libs/api", f"./services/{service}"):
        assert package in installs
    for copied in re.findall(r"^COPY (?!--from)(.+)$", text, re.MULTILINE):
        for source in copied.split()[:-1]:
            assert (REPO / source).exists(), f"{service}: COPY source {source} does not exist"


@pytest.mark.parametrize("service", SERVICES)
def test_torch_only_where_needed_and_cpu_by_default(service):
    text = dockerfile(service)
    if service in TORCH_SERVICES:
        assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in text
        pinned = re.search(r"^torch==(\S+)", (REPO / "requirements.lock").read_text(), re.MULTILINE).group(1)
        assert f"torch=={pinned}" in text
    else:
        assert "torch" not in text


def test_inference_image_installs_what_its_package_needs():
    deps = tomllib.loads((REPO / "services/inference/pyproject.toml").read_text())["project"]["dependencies"]
    text = dockerfile("inference")
    if "twin-inference-client" in deps:
        assert "./libs/inference-client" in text and "COPY libs/inference-client" in text


# ------------------------------------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose():
    return load_yaml("docker-compose.yml")


def test_compose_builds_every_service_from_its_dockerfile(compose):
    services = compose["services"]
    for name in SERVICES:
        build = services[name]["build"]
        assert (REPO / build["context"]).is_dir()
        assert (REPO / build["context"] / build["dockerfile"]).is_file()
        assert build["dockerfile"] == f"services/{name}/Dockerfile"


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
        assert settings.http_port == int(re.search(r"TWIN_HTTP_PORT=(\d+)", dockerfile(name)).group(1))
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


def test_skaffold_artifacts_point_at_existing_dockerfiles(skaffold):
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
    patched = [a for a in config["build"]["artifacts"] if "buildArgs" in a.get("docker", {})]
    assert [a["image"] for a in patched] == ["twin-inference"]
    assert "cu" in patched[0]["docker"]["buildArgs"]["TORCH_INDEX_URL"].rsplit("/", 1)[1]
    assert "ARG TORCH_INDEX_URL" in dockerfile("inference")
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
