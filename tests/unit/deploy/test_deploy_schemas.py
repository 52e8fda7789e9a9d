"""Every object of every values profile validates strictly (unknown fields fail): built-in kinds against the
Kubernetes JSON schemas of kubernetes-validate, custom resources (Strimzi, KServe, KEDA) against their operators'
published CRD schemas (vendored in schemas/, SOURCES.md says from where). So do the k8s/ kustomizations as built,
the trainer's Job template, the compose files against the compose specification's schema and skaffold.yaml (with
each profile applied) against skaffold's schema."""

from __future__ import annotations

import copy

import pytest
import yaml
from deploy_support import (
    COMPOSE_FILES,
    CRD_SCHEMAS,
    NAMESPACE,
    PROFILES,
    REPO,
    compose_merge,
    find,
    json_patch,
    json_schema_validator,
    kustomize_build,
    load_yaml,
    schema_errors,
    validation_errors,
)

CLUSTER_SCOPED = {"Namespace", "PriorityClass"}


def assert_valid(objects: list[dict], where: str) -> None:
    errors = []
    for obj in objects:
        errors += [f"{obj['kind']}/{obj['metadata'].get('name')}: {e}" for e in validation_errors(obj)]
    assert errors == [], f"{where}:\n" + "\n".join(errors)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_object_of_every_profile_validates_strictly(profile, name):
    objects = profile(name)
    assert objects
    assert_valid(objects, name)
    identities = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(set(identities)) == len(identities), "two objects share a kind and a name"
    for obj in objects:  # everything lands in the release's namespace, not in the client's current one
        assert obj["metadata"].get("namespace") == NAMESPACE, f"{obj['kind']}/{obj['metadata']['name']}"
    # the Job template the trainer's consumer instantiates is a valid Job too
    for config in find(objects, "ConfigMap", "twin-trainer-job"):
        job = yaml.safe_load(config["data"]["job.yaml"])
        job["metadata"]["name"] = "twin-trainer-job-x"  # the consumer names it (generateName in the template)
        assert_valid([job], f"{name}: trainer Job template")


@pytest.mark.parametrize(
    ("kind", "breakage"),
    [
        ("Deployment", lambda o: o["spec"]["template"]["spec"]["containers"][0].update(livenessprobe={})),
        ("NetworkPolicy", lambda o: o["spec"].update(podselector={})),
        ("KafkaTopic", lambda o: o["spec"].update(partitionCount=3)),
        ("Kafka", lambda o: o["spec"]["kafka"].update(replicas=3)),  # v1beta2 had it; v1 moved it to node pools
        ("KafkaConnect", lambda o: o["spec"].pop("groupId")),  # required in v1
        ("InferenceService", lambda o: o["spec"]["predictor"]["containers"][0].update(startupprobe={})),
        ("ScaledObject", lambda o: o["spec"].update(maxReplicas=3)),
    ],
)
def test_validation_is_live(profile, kind, breakage):
    """A misspelt or missing field in a rendered object fails the validation that the test above relies on."""
    obj = copy.deepcopy(find(profile("keda"), kind)[0])
    assert validation_errors(obj) == []
    breakage(obj)
    assert validation_errors(obj) != []


def test_every_custom_resource_kind_has_a_vendored_schema(profile):
    kinds = {(o["apiVersion"], o["kind"]) for name in PROFILES for o in profile(name)}
    custom = {k for k in kinds if "." in k[0].split("/")[0] and not k[0].endswith(".k8s.io/v1")}
    custom -= {("autoscaling/v2", "HorizontalPodAutoscaler")}
    assert custom == set(CRD_SCHEMAS), "a custom resource without its CRD schema (or a schema nothing uses)"


# ------------------------------------------------------------------------------------------- k8s/


@pytest.mark.parametrize("folder", ["base", "overlays/dev", "overlays/prod"])
def test_kustomizations_build_valid_objects(folder):
    objects = kustomize_build(REPO / "k8s" / folder)
    assert_valid(objects, folder)
    kinds = {o["kind"] for o in objects}
    assert kinds == {"Namespace", "PriorityClass"}
    namespace = find(objects, "Namespace", NAMESPACE)[0]["metadata"]["labels"]
    expected = "restricted" if folder.endswith("prod") else "baseline"
    assert namespace["pod-security.kubernetes.io/enforce"] == expected
    for obj in objects:
        assert obj["kind"] in CLUSTER_SCOPED


def test_every_manifest_in_k8s_is_part_of_a_kustomization():
    listed = set()
    for kustomization in (REPO / "k8s").rglob("kustomization.yaml"):
        for entry in yaml.safe_load(kustomization.read_text()).get("resources", []):
            listed.add((kustomization.parent / entry).resolve())
    manifests = {
        p.resolve() for p in (REPO / "k8s").rglob("*.yaml") if p.name not in ("kustomization.yaml", "values.yaml")
    }
    assert manifests <= listed, f"not in any kustomization: {sorted(manifests - listed)}"


# ------------------------------------------------------------------------------------------- compose, skaffold


@pytest.mark.parametrize("layers", [COMPOSE_FILES[:1], COMPOSE_FILES[:2], COMPOSE_FILES])
def test_compose_layers_validate_against_the_compose_spec(layers):
    validator = json_schema_validator("compose-spec.json")
    for name in layers:
        assert schema_errors(validator, load_yaml(name)) == [], name
    merged: dict = {}
    for name in layers:
        merged = compose_merge(merged, load_yaml(name))
    assert schema_errors(validator, merged) == [], "+".join(layers)


def test_compose_spec_validation_is_live():
    broken = copy.deepcopy(load_yaml("docker-compose.yml"))
    broken["services"]["postgres"]["healthchek"] = broken["services"]["postgres"].pop("healthcheck")
    assert schema_errors(json_schema_validator("compose-spec.json"), broken) != []


def skaffold_configs() -> dict[str, dict]:
    config = load_yaml("skaffold.yaml")
    configs = {"default": config}
    for profile in config["profiles"]:
        patched = json_patch(config, profile["patches"])
        patched.pop("profiles")
        configs[profile["name"]] = patched
    return configs


@pytest.mark.parametrize("name", sorted(skaffold_configs()))
def test_skaffold_validates_against_its_schema(name):
    config = skaffold_configs()[name]
    assert config["apiVersion"] == "skaffold/v4beta14"
    assert schema_errors(json_schema_validator("skaffold-v4beta14.json"), config) == []


def test_skaffold_schema_validation_is_live():
    broken = copy.deepcopy(load_yaml("skaffold.yaml"))
    broken["deploy"]["helm"]["releases"][0]["valueFile"] = ["x.yaml"]
    assert schema_errors(json_schema_validator("skaffold-v4beta14.json"), broken) != []
