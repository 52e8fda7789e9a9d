"""Every object the chart renders (defaults, everything on, each option) and every manifest in k8s/
validates against the Kubernetes JSON schemas of kubernetes-validate (strict: unknown fields fail).
Custom resources (KServe, Strimzi) have no schema there: they are checked for their required shape."""

from __future__ import annotations

import pytest
import yaml
from deploy_support import REPO, everything_off
from kubernetes_validate import utils as kv

KUBERNETES_VERSION = "1.33.0"
CUSTOM = {
    "InferenceService": "serving.kserve.io/v1beta1",
    "Kafka": "kafka.strimzi.io/v1beta2",
    "KafkaNodePool": "kafka.strimzi.io/v1beta2",
    "KafkaConnect": "kafka.strimzi.io/v1beta2",
    "KafkaConnector": "kafka.strimzi.io/v1beta2",
}

VALUE_SETS = {
    "defaults": {},
    "gpu": {"inference": {"gpu": {"enabled": True}}},
    "no-kserve-gpu": {"inference": {"kserve": {"enabled": False}, "gpu": {"enabled": True}}},
    "triton": {"inference": {"runtime": "triton", "gpu": {"enabled": True}}},
    "connector-resource": {"cdc": {"enabled": False}, "kafka": {"connect": {"connectorResource": True}}},
    "grpc": {"gateway": {"grpcProbe": True}, "inference": {"kserve": {"protocol": "grpc"}}},
    "priority-and-secrets": {
        "gateway": {"priorityClassName": "twin-serving"},
        "global": {"imagePullSecrets": [{"name": "regcred"}], "env": {"TWIN_X": "1"}},
    },
    "everything-off": everything_off(),
}


def validate_custom(obj: dict) -> None:
    assert obj["apiVersion"] == CUSTOM[obj["kind"]], obj["kind"]
    assert obj["metadata"]["name"] and isinstance(obj["spec"], dict)
    spec = obj["spec"]
    if obj["kind"] == "InferenceService":
        predictor = spec["predictor"]
        assert ("containers" in predictor) != ("model" in predictor)
        for container in predictor.get("containers", []):
            kv.validate(
                {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [container]}},
                KUBERNETES_VERSION,
                strict=True,
            )
    elif obj["kind"] == "KafkaNodePool":
        assert obj["metadata"]["labels"]["strimzi.io/cluster"]
        assert set(spec["roles"]) <= {"broker", "controller"} and spec["replicas"] >= 1
    elif obj["kind"] == "Kafka":
        assert {listener["name"] for listener in spec["kafka"]["listeners"]} >= {"plain"}
    elif obj["kind"] == "KafkaConnect":
        assert spec["bootstrapServers"].endswith(":9092")
        assert ("image" in spec) or ("build" in spec)
    elif obj["kind"] == "KafkaConnector":
        assert spec["class"] and spec["config"]["topic.prefix"]


def check(obj: dict) -> None:
    if obj["kind"] in CUSTOM:
        validate_custom(obj)
        return
    try:
        kv.validate(obj, KUBERNETES_VERSION, strict=True)
    except kv.ValidationError as error:
        path = ".".join(str(p) for p in error.path)
        pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {error.message}")


@pytest.mark.parametrize("case", sorted(VALUE_SETS))
def test_rendered_objects_validate(render, case):
    objects = render(VALUE_SETS[case])
    assert objects
    for obj in objects:
        check(obj)


def test_kustomize_base_lists_valid_manifests():
    kustomization = yaml.safe_load((REPO / "k8s" / "kustomization.yaml").read_text())
    listed = kustomization["resources"]
    on_disk = sorted(p.name for p in (REPO / "k8s").glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk
    kinds = []
    for name in listed:
        for obj in yaml.safe_load_all((REPO / "k8s" / name).read_text()):
            check(obj)
            kinds.append(obj["kind"])
    assert {"Namespace", "PriorityClass", "NetworkPolicy"} <= set(kinds)


def test_schema_check_rejects_a_broken_object(render):
    """The validator is live: a misspelt field in a rendered Deployment fails."""
    deployment = next(o for o in render() if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(deployment, KUBERNETES_VERSION, strict=True)
