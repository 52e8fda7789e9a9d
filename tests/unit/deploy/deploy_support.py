"""Helpers of the deployment tests: render charts/twin offline (Helm v4 SDK via helm-python-sdk), the named value
profiles every test renders, strict validation of built-in kinds (kubernetes-validate) and of custom resources
(the operators' published CRD schemas vendored under schemas/), and readers of the repository's deploy files.
No cluster, no Docker engine, no network."""

from __future__ import annotations

import base64
import copy
import gzip
import importlib
import json
import re
from functools import cache
from pathlib import Path

import jsonschema
import yaml

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "twin"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
RELEASE = "twin"
NAMESPACE = "twin"
KUBERNETES_VERSION = "1.33.0"

# the services, their HTTP ports (as in each service's settings) and the chart keys that toggle them
SERVICES = ("ingest", "cdc", "embedder", "trainer", "inference", "gateway", "monitor")
APP_SERVICES = tuple(s for s in SERVICES if s != "inference")
BACKING = {  # toggle -> the external value the chart requires when it is off
    "postgresql": {"external": {"host": "pg.example.internal", "port": 5433}},
    "kafka": {
        "external": {"bootstrapServers": "kafka.example.internal:9092"},
        "connect": {"externalUrl": "http://connect.example.internal:8083"},
    },
    "redis": {"external": {"host": "redis.example.internal", "port": 6380, "db": 2}},
    "qdrant": {"external": {"url": "http://qdrant.example.internal:6333"}},
    "mlflow": {"external": {"trackingUri": "http://mlflow.example.internal:5000"}},
    "otelCollector": {"external": {"endpoint": "http://otel.example.internal:4317"}},
}
SECRET_KEYS = (
    "TWIN_PG_PASSWORD",
    "TWIN_REDIS_PASSWORD",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "TWIN_API_KEY_PEPPER",
    "TWIN_SERVICE_TOKEN",
)


def everything_off() -> dict:
    values: dict = {name: {"enabled": False} for name in SERVICES}
    for name, external in BACKING.items():
        values[name] = {"enabled": False, **external}
    return values


def overlay_values(environment: str) -> dict:
    return yaml.safe_load((REPO / "k8s" / "overlays" / environment / "values.yaml").read_text())


# Every values profile `make test` renders and validates strictly (test_deploy_schemas.py), each an option or a
# combination a user can choose; the k8s overlays' values are profiles too.
PROFILES: dict[str, dict] = {
    "defaults": {},
    "gpu": {"inference": {"gpu": {"enabled": True}}, "trainer": {"job": {"gpu": True}}},
    "no-kserve-gpu": {"inference": {"kserve": {"enabled": False}, "gpu": {"enabled": True}}},
    "http-protocol-and-probes": {"gateway": {"grpcProbe": False}, "inference": {"kserve": {"protocol": "http"}}},
    "knative": {"inference": {"kserve": {"deploymentMode": "Knative"}}},
    "connector-resource": {"cdc": {"enabled": False}, "kafka": {"connect": {"connectorResource": True}}},
    "connect-build": {"kafka": {"connect": {"build": {"enabled": True, "outputImage": "registry.example/connect:1"}}}},
    "keda": {
        "embedder": {"autoscaling": {"keda": {"enabled": True}}},
        "monitor": {
            "persistence": {"accessMode": "ReadWriteMany"},
            "autoscaling": {"keda": {"enabled": True, "maxReplicas": 3}},
        },
    },
    "ingress-tls": {"gateway": {"ingress": {"enabled": True, "className": "nginx", "tls": {"enabled": True}}}},
    "zipkin": {"traceStore": {"kind": "zipkin"}},
    "no-trace-store": {"traceStore": {"kind": "none"}},
    "existing-secret": {"secrets": {"existingSecret": "twin-credentials"}},
    "registry-and-pull-secrets": {
        "global": {"imageRegistry": "registry.example/twin/", "imagePullSecrets": [{"name": "regcred"}]},
        "gateway": {"priorityClassName": "twin-serving", "env": {"TWIN_X": "1"}},
    },
    "hard-anti-affinity-no-netpol": {"global": {"antiAffinity": "hard"}, "networkPolicy": {"enabled": False}},
    "external-servers": {name: {"enabled": False, **external} for name, external in BACKING.items()},
    "everything-off": everything_off(),
    "overlay-dev": overlay_values("dev"),
    "overlay-prod": overlay_values("prod"),
}


def parse_manifests(manifests: dict[str, str]) -> list[dict]:
    objects: list[dict] = []
    for path, text in sorted(manifests.items()):
        if path.endswith(".txt"):
            continue
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def render_chart(chart, values: dict | None = None) -> list[dict]:
    """Render the chart with these values; returns every Kubernetes object (NOTES.txt left out)."""
    manifests = chart.render(copy.deepcopy(values or {}), name=RELEASE, namespace=NAMESPACE, is_install=True)
    return parse_manifests(manifests)


def find(objects: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def secret_data(objects: list[dict]) -> dict[str, str]:
    """The generated Secret's values, decoded."""
    data: dict[str, str] = {}
    for secret in find(objects, "Secret"):
        data.update({k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()})
        data.update(secret.get("stringData", {}))
    return data


def pod_env(objects: list[dict], container: dict) -> dict[str, str]:
    """What a container's environment would be: its ConfigMaps (envFrom), then its env entries with secretKeyRef
    resolved from the rendered Secret and $(VAR) references expanded, as the kubelet does."""
    configmaps = {c["metadata"]["name"]: c.get("data", {}) for c in find(objects, "ConfigMap")}
    secrets = secret_data(objects)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(configmaps[source["configMapRef"]["name"]])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), item["value"])
        elif "secretKeyRef" in item.get("valueFrom", {}):
            env[item["name"]] = secrets[item["valueFrom"]["secretKeyRef"]["key"]]
        else:
            env[item["name"]] = "<" + next(iter(item["valueFrom"])) + ">"
    return env


def container_env(container: dict) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}


def pod_spec(obj: dict) -> dict:
    """The pod spec of a workload (Deployment, StatefulSet, Job) or the predictor of an InferenceService."""
    if obj["kind"] == "InferenceService":
        return obj["spec"]["predictor"]
    return obj["spec"]["template"]["spec"]


def load_yaml(relative: str):
    return yaml.safe_load((REPO / relative).read_text())


def settings_of(service: str) -> type:
    """The service's own settings class (e.g. twin_ingest.settings.IngestSettings)."""
    module = importlib.import_module(f"twin_{service}.settings")
    return next(v for k, v in vars(module).items() if k.lower() == f"{service}settings")


def dot_env() -> dict[str, str]:
    """The repository's .env (versions and published ports), as compose reads it."""
    values = {}
    for line in (REPO / ".env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


# ------------------------------------------------------------------------------------------- custom resources

CRD_SCHEMAS = {  # (apiVersion, kind) -> vendored schema file (schemas/SOURCES.md says where each comes from)
    ("kafka.strimzi.io/v1", "Kafka"): "strimzi/kafka.v1.json",
    ("kafka.strimzi.io/v1", "KafkaNodePool"): "strimzi/kafkanodepool.v1.json",
    ("kafka.strimzi.io/v1", "KafkaConnect"): "strimzi/kafkaconnect.v1.json",
    ("kafka.strimzi.io/v1", "KafkaConnector"): "strimzi/kafkaconnector.v1.json",
    ("kafka.strimzi.io/v1", "KafkaTopic"): "strimzi/kafkatopic.v1.json",
    ("serving.kserve.io/v1beta1", "InferenceService"): "kserve/inferenceservice.v1beta1.json.gz",
    ("keda.sh/v1alpha1", "ScaledObject"): "keda/scaledobject.v1alpha1.json",
}


def strict_openapi(node):
    """An openAPIV3Schema as a JSON schema that refuses unknown fields the way the API server's strict field
    validation does for a structural CRD: every object with declared properties refuses others, unless the CRD
    keeps unknown fields there (x-kubernetes-preserve-unknown-fields); int-or-string and nullable as declared."""
    if isinstance(node, list):
        return [strict_openapi(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: strict_openapi(value) for key, value in node.items()}
    if node.pop("x-kubernetes-int-or-string", False):
        node.pop("type", None)
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.pop("nullable", False) and "type" in node:
        node["type"] = [node["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields", False)
    if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node and not preserve:
        node["additionalProperties"] = False
    return node


@cache
def crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    path = SCHEMAS / CRD_SCHEMAS[(api_version, kind)]
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    schema = json.loads(raw)
    assert schema.pop("x-crd") == {
        "group": api_version.split("/")[0],
        "kind": kind,
        "version": api_version.split("/")[1],
    }
    schema = strict_openapi(schema)
    # metadata is validated by the API server itself (ObjectMeta): here its name must be a DNS-1123 subdomain
    schema["properties"]["metadata"] = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}},
    }
    return jsonschema.Draft7Validator(schema)


@cache
def json_schema_validator(relative: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / relative).read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def schema_errors(validator, document) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message[:300]}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]


# ------------------------------------------------------------------------------------------- built-in kinds


@cache
def _kubernetes_definitions():
    from kubernetes_validate import utils as kv

    version = major_minor_schema_version()
    return kv.Resource.from_contents(
        kv.schema_contents(f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", KUBERNETES_VERSION)
    )


def major_minor_schema_version() -> str:
    from kubernetes_validate import utils as kv

    wanted = kv.major_minor(KUBERNETES_VERSION)
    return [v for v in kv.all_versions() if kv.major_minor(v) <= wanted][-1]


@cache
def kubernetes_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """kubernetes-validate's strict schema of a built-in kind (unknown fields fail), built once per kind: the same
    schema files and validator kubernetes_validate.utils.validate uses, without re-reading them for every object."""
    from kubernetes_validate import utils as kv

    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = f"kubernetes-json-schema/v{major_minor_schema_version()}-local-strict/{kind.lower()}-{group}.json"
    schema = kv.schema_contents(path, KUBERNETES_VERSION)
    registry = _kubernetes_definitions() @ (kv.Resource.from_contents(schema) @ kv.Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def validation_errors(obj: dict) -> list[str]:
    """Every schema error of one object: a custom resource against its operator's CRD, a built-in kind against
    Kubernetes' own schema; both strict."""
    key = (obj["apiVersion"], obj["kind"])
    validator = crd_validator(*key) if key in CRD_SCHEMAS else kubernetes_validator(*key)
    return schema_errors(validator, obj)


# ------------------------------------------------------------------------------------------- patches, kustomize


def json_patch(document, patches: list[dict]):
    """RFC 6902 add / replace / remove (what skaffold profiles and the kustomize overlays use)."""
    result = copy.deepcopy(document)
    for patch in patches:
        assert patch["op"] in ("add", "replace", "remove"), patch
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in patch["path"].split("/")[1:]]
        node = result
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            index = len(node) if last == "-" else int(last)
            if patch["op"] == "add":
                node.insert(index, patch["value"])
            elif patch["op"] == "replace":
                node[index] = patch["value"]
            else:
                del node[index]
        else:
            if patch["op"] in ("replace", "remove"):
                assert last in node, f"{patch['op']} {patch['path']}: no such member"
            if patch["op"] == "remove":
                del node[last]
            else:
                node[last] = patch["value"]
    return result


KUSTOMIZE_KEYS = {"apiVersion", "kind", "resources", "labels", "patches"}


def kustomize_build(folder: Path) -> list[dict]:
    """What `kubectl kustomize` gives for the subset of kustomize this repository uses: resources (files and
    folders with a kustomization), labels (pairs, selectors untouched) and JSON 6902 patches with a kind/name
    target. Anything else in a kustomization fails here, so the subset cannot grow unnoticed."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert set(kustomization) <= KUSTOMIZE_KEYS, f"{folder}: unsupported keys {set(kustomization) - KUSTOMIZE_KEYS}"
    assert (kustomization["apiVersion"], kustomization["kind"]) == ("kustomize.config.k8s.io/v1beta1", "Kustomization")
    objects: list[dict] = []
    for entry in kustomization.get("resources", []):
        path = (folder / entry).resolve()
        if path.is_dir():
            objects += kustomize_build(path)
        else:
            objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for label in kustomization.get("labels", []):
        assert set(label) == {"pairs"}, f"{folder}: labels other than plain pairs"
        for obj in objects:
            obj["metadata"].setdefault("labels", {}).update(label["pairs"])
    for patch in kustomization.get("patches", []):
        target = patch["target"]
        matches = [
            i
            for i, obj in enumerate(objects)
            if obj["kind"] == target["kind"] and obj["metadata"]["name"] == target["name"]
        ]
        assert matches, f"{folder}: patch target {target} matches nothing"
        for i in matches:
            objects[i] = json_patch(objects[i], yaml.safe_load(patch["patch"]))
    return objects


# ------------------------------------------------------------------------------------------- compose


def compose_interpolate(value, env: dict[str, str]):
    """Compose's variable interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, $$ -> $."""
    if isinstance(value, dict):
        return {k: compose_interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [compose_interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        if match[0] == "$$":
            return "$"
        name, operator, argument = match["name"], match["op"] or "", match["arg"] or ""
        present = name in env and (env[name] != "" or ":" not in operator)
        if operator.endswith("?") and not present:
            raise KeyError(f"{name}: {argument}")
        if operator.endswith("-") and not present:
            return argument
        return env.get(name, "")

    pattern = r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    return re.sub(pattern, substitute, value)


COMPOSE_FILES = ("docker-compose.yml", "docker-compose.services.yml", "docker-compose.observability.yml")


def compose_merge(base: dict, overlay: dict) -> dict:
    """Compose's merge of a later file into an earlier one, for the keys these files use: mappings merge key by
    key (environment, depends_on, build args, volumes at the top level), sequences of ports append, anything else
    is replaced."""
    result = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = compose_merge(result[key], value)
        elif key == "ports" and isinstance(result.get(key), list):
            result[key] = result[key] + list(value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def compose_model(files: tuple[str, ...] = COMPOSE_FILES, env: dict[str, str] | None = None) -> dict:
    """The merged, interpolated compose model of these files (as `docker compose -f a -f b config` would see it)."""
    model: dict = {}
    for name in files:
        model = compose_merge(model, load_yaml(name))
    return compose_interpolate(model, {**dot_env(), **(env or {})})
