"""Helpers of the deployment tests: render charts/twin offline (Helm v4 SDK via helm-python-sdk) and
read the repository's deploy files. No cluster, no Docker engine, no network."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "twin"
RELEASE = "twin"
NAMESPACE = "twin"

# the services, their HTTP ports (as in each service's settings) and the chart keys that toggle them
SERVICES = ("ingest", "cdc", "embedder", "trainer", "inference", "gateway", "monitor")
APP_SERVICES = tuple(s for s in SERVICES if s != "inference")
BACKING = {  # toggle -> the external value the chart requires when it is off
    "postgresql": {"external": {"host": "pg.example.internal", "port": 5433}},
    "kafka": {
        "external": {"bootstrapServers": "kafka.example.internal:9092"},
        "connect": {"externalUrl": "http://connect.example.internal:8083"},
    },
    "redis": {"external": {"url": "redis://redis.example.internal:6379/0"}},
    "qdrant": {"external": {"url": "http://qdrant.example.internal:6333"}},
    "mlflow": {"external": {"trackingUri": "http://mlflow.example.internal:5000"}},
    "otelCollector": {"external": {"endpoint": "http://otel.example.internal:4317"}},
}


def everything_off() -> dict:
    values: dict = {name: {"enabled": False} for name in SERVICES}
    for name, external in BACKING.items():
        values[name] = {"enabled": False, **external}
    return values


def render_chart(chart, values: dict | None = None) -> list[dict]:
    """Render the chart with these values; returns every Kubernetes object (NOTES.txt left out)."""
    manifests = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects: list[dict] = []
    for path, text in sorted(manifests.items()):
        if path.endswith(".txt"):
            continue
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def find(objects: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def config_env(objects: list[dict]) -> dict[str, str]:
    """The environment every twin container gets: the shared ConfigMap plus the Secret."""
    env = dict(find(objects, "ConfigMap", f"{RELEASE}-config")[0]["data"])
    for secret in find(objects, "Secret"):
        env.update(secret.get("stringData", {}))
    return env


def container_env(container: dict) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}


def load_yaml(relative: str):
    return yaml.safe_load((REPO / relative).read_text())


def settings_of(service: str) -> type:
    """The service's own settings class (e.g. twin_ingest.settings.IngestSettings)."""
    module = importlib.import_module(f"twin_{service}.settings")
    return next(v for k, v in vars(module).items() if k.lower() == f"{service}settings")
