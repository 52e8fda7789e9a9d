"""charts/twin: each service gets a Deployment with probes on its real port and exactly the credentials it needs
from the one Secret; backing servers run hardened; network policies allow exactly the call graph; scaling
(HPA, KEDA on consumer lag) and disruption budgets where a workload can run several pods; the trainer runs as
Jobs its consumer creates; GPU requests appear only when asked for; Kafka is Strimzi v1 with replication
derived from the cluster size; bad values are refused with the key named."""

from __future__ import annotations

import os
import re

import helm_python
import pytest
import yaml
from deploy_support import (
    APP_SERVICES,
    BACKING,
    CHART,
    NAMESPACE,
    PROFILES,
    RELEASE,
    SECRET_KEYS,
    SERVICES,
    container_env,
    find,
    pod_env,
    pod_spec,
    secret_data,
    settings_of,
)

GPU = "nvidia.com/gpu"
WORKLOAD_KINDS = ("Deployment", "StatefulSet")


def deployments_by_name(objects):
    return {d["metadata"]["name"]: d for d in find(objects, "Deployment")}


def container_of(objects, name: str) -> dict:
    return pod_spec(deployments_by_name(objects)[name])["containers"][0]


def workloads(objects) -> list[dict]:
    """Every pod template of the release: Deployments, StatefulSets, the predictors and the trainer's Job."""
    result = [o for o in objects if o["kind"] in WORKLOAD_KINDS + ("InferenceService",)]
    for config in find(objects, "ConfigMap", f"{RELEASE}-trainer-job"):
        result.append(yaml.safe_load(config["data"]["job.yaml"]))
    return result


def pod_labels(obj) -> dict:
    if obj["kind"] == "InferenceService":
        return obj["spec"]["predictor"]["labels"]
    return obj["spec"]["template"]["metadata"]["labels"]


def clean_twin_env(monkeypatch):
    for key in [k for k in os.environ if k.startswith(("TWIN_", "MLFLOW_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("TWIN_STACK_HOME", "/nonexistent")  # no .local/stack.env of a developer's stack


def test_lint_has_no_errors():
    report = helm_python.lint(CHART, strict=True)
    errors = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert errors == []


def test_default_render_has_every_piece(profile):
    objects = profile("defaults")
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
        "KafkaTopic",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "PersistentVolumeClaim",
    } <= kinds
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for name in APP_SERVICES:
        assert ("Deployment", f"{RELEASE}-{name}") in names
        assert ("Service", f"{RELEASE}-{name}") in names
    for model in ("llm", "embed", "rerank"):
        assert ("InferenceService", f"{RELEASE}-inference-{model}") in names
    for server in ("postgresql", "qdrant", "redis"):
        assert ("StatefulSet", f"{RELEASE}-{server}") in names
    for server in ("mlflow", "otel-collector", "trace-store"):
        assert ("Deployment", f"{RELEASE}-{server}") in names
    assert "localhost" not in str(objects), "no image or address may point at localhost"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_service_deployment_probes_its_own_port(profile, service):
    objects = profile("http-protocol-and-probes")
    deployment = deployments_by_name(objects)[f"{RELEASE}-{service}"]
    pod = pod_spec(deployment)
    container = pod["containers"][0]
    port = settings_of(service)().http_port  # the port the service listens on by default
    assert container["ports"][0] == {"name": "http", "containerPort": port, "protocol": "TCP"}
    assert container_env(container)["TWIN_HTTP_PORT"] == str(port)
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["image"] == f"twin-{service}:0.1.0"
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert find(objects, "Service", f"{RELEASE}-{service}")[0]["spec"]["selector"] == selector


def test_gateway_serves_grpc_probed_by_grpc_health_and_scales_on_cpu(profile):
    objects = profile("defaults")
    gateway = deployments_by_name(objects)[f"{RELEASE}-gateway"]
    container = pod_spec(gateway)["containers"][0]
    grpc_port = settings_of("gateway")().grpc_port
    assert {"name": "grpc", "containerPort": grpc_port, "protocol": "TCP"} in container["ports"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["grpc"] == {"port": grpc_port}  # grpc.health.v1
    assert "replicas" not in gateway["spec"], "the HPA owns the replica count"
    hpa = find(objects, "HorizontalPodAutoscaler", f"{RELEASE}-gateway")[0]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{RELEASE}-gateway"}
    assert hpa["minReplicas"] >= 2 and hpa["metrics"][0]["resource"]["name"] == "cpu"
    pdb = find(objects, "PodDisruptionBudget", f"{RELEASE}-gateway")[0]["spec"]
    assert pdb["selector"]["matchLabels"] == gateway["spec"]["selector"]["matchLabels"]
    env = pod_env(objects, container)
    assert env["TWIN_INGEST_URL"] == f"http://{RELEASE}-ingest:8101"
    assert env["TWIN_INFERENCE_URL"] == f"{RELEASE}-inference-llm-predictor:80"  # KServe's predictor Service
    plain = pod_env(profile("no-kserve-gpu"), container_of(profile("no-kserve-gpu"), f"{RELEASE}-gateway"))
    assert plain["TWIN_INFERENCE_URL"] == f"{RELEASE}-inference:8106"
    rest = profile("http-protocol-and-probes")
    assert pod_env(rest, container_of(rest, f"{RELEASE}-gateway"))["TWIN_INFERENCE_URL"] == (
        f"{RELEASE}-inference-llm-predictor:8106"
    )


def test_gateway_ingress_with_tls_is_the_only_published_entry(profile):
    ingresses = [o for name in PROFILES for o in find(profile(name), "Ingress")]
    assert {i["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] for i in ingresses} == {
        f"{RELEASE}-gateway"
    }
    ingress = find(profile("ingress-tls"), "Ingress")[0]["spec"]
    assert ingress["tls"] == [{"hosts": ["twin.example.com"], "secretName": "twin-gateway-tls"}]
    assert ingress["ingressClassName"] == "nginx"
    for name in PROFILES:
        for service in find(profile(name), "Service"):
            assert service["spec"].get("type", "ClusterIP") == "ClusterIP", service["metadata"]["name"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_toggle_removes_only_that_service(render, service):
    values = {service: {"enabled": False}}
    if service == "cdc":
        values["kafka"] = {"connect": {"connectorResource": True}}
    objects = render(values)
    if service == "inference":
        assert find(objects, "InferenceService") == []
    else:
        assert not [o for o in objects if o["metadata"]["name"] == f"{RELEASE}-{service}"]
        assert find(objects, "NetworkPolicy", f"{RELEASE}-netpol-{service}") == []
    for other in APP_SERVICES:
        if other != service:
            assert f"{RELEASE}-{other}" in deployments_by_name(objects)


@pytest.mark.parametrize("server", sorted(BACKING))
def test_backing_server_off_uses_the_external_address(render, server):
    external = BACKING[server]["external"]
    objects = render({server: {"enabled": False, **BACKING[server]}})
    env = pod_env(objects, container_of(objects, f"{RELEASE}-gateway"))
    trainer = pod_env(objects, container_of(objects, f"{RELEASE}-trainer"))
    component = {"otelCollector": "otel-collector"}.get(server, server)
    assert not [o for o in objects if o["metadata"]["name"] == f"{RELEASE}-{component}"]
    password = secret_data(objects)["TWIN_REDIS_PASSWORD"]
    expected = {
        "postgresql": ("TWIN_PG_HOST", external.get("host")),
        "kafka": ("TWIN_KAFKA_BOOTSTRAP_SERVERS", external.get("bootstrapServers")),
        "redis": ("TWIN_REDIS_URL", f"redis://:{password}@redis.example.internal:6380/2"),
        "qdrant": ("TWIN_QDRANT_URL", external.get("url")),
        "mlflow": ("TWIN_MLFLOW_TRACKING_URI", external.get("trackingUri")),
        "otelCollector": ("TWIN_OTEL_OTLP_ENDPOINT", external.get("endpoint")),
    }[server]
    assert {**env, **trainer}[expected[0]] == expected[1]
    if server == "kafka":
        assert not find(objects, "Kafka") and not find(objects, "KafkaConnect") and not find(objects, "KafkaTopic")
        assert env["TWIN_CONNECT_URL"] == BACKING["kafka"]["connect"]["externalUrl"]
    # the egress to an external server is allowed on its port (at any address: the chart cannot know it)
    port = {"postgresql": 5433, "kafka": 9092, "redis": 6380, "qdrant": 6333, "mlflow": 5000, "otelCollector": 4317}
    egress = find(objects, "NetworkPolicy", f"{RELEASE}-netpol-trainer")[0]["spec"]["egress"]
    if server in ("postgresql", "kafka", "redis", "mlflow", "otelCollector"):
        anywhere = [r for r in egress if r["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0"}}]]
        assert port[server] in [p["port"] for rule in anywhere for p in rule["ports"]]


@pytest.mark.parametrize("server", ["postgresql", "kafka", "redis"])
def test_backing_server_off_without_an_address_is_refused(chart, server):
    with pytest.raises(helm_python.HelmError, match=f"{server}.external"):
        chart.render({server: {"enabled": False}}, name=RELEASE, namespace=RELEASE)


def test_everything_off_renders_only_the_shared_config_and_the_deny_policy(profile):
    objects = profile("everything-off")
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == [
        ("ConfigMap", f"{RELEASE}-config"),
        ("NetworkPolicy", f"{RELEASE}-default-deny"),
        ("Secret", f"{RELEASE}-secrets"),
    ]


# ------------------------------------------------------------------------------------------- credentials


@pytest.mark.parametrize("service", APP_SERVICES)
def test_each_service_reads_its_settings_and_credentials_from_the_chart(profile, service, monkeypatch):
    """The environment a service's pod gets (ConfigMap + its Secret keys, $(VAR) expanded), loaded into the real
    settings classes, points it at the chart's servers with the Secret's credentials."""
    from twin_common.settings import (
        InternalAuthSettings,
        KafkaSettings,
        MlflowSettings,
        PostgresSettings,
        RedisSettings,
        TelemetrySettings,
    )

    objects = profile("defaults")
    secrets = secret_data(objects)
    clean_twin_env(monkeypatch)
    env = pod_env(objects, container_of(objects, f"{RELEASE}-{service}"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = settings_of(service)()
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", int(env["TWIN_HTTP_PORT"]))
    assert KafkaSettings().bootstrap_servers == "twin-kafka-bootstrap:9092"
    assert TelemetrySettings().otlp_endpoint == f"http://{RELEASE}-otel-collector:4317"
    pg = PostgresSettings()
    assert (pg.host, pg.port, pg.user, pg.database) == (f"{RELEASE}-postgresql", 5432, "twin", "twin")
    keys = set(PROFILES["defaults"].get(service, {}).get("secretEnv", [])) or set(
        yaml.safe_load((CHART / "values.yaml").read_text())[service]["secretEnv"]
    )
    if "TWIN_PG_PASSWORD" in keys:
        assert pg.password == secrets["TWIN_PG_PASSWORD"]
    if "TWIN_REDIS_PASSWORD" in keys:
        assert RedisSettings().url == f"redis://:{secrets['TWIN_REDIS_PASSWORD']}@{RELEASE}-redis:6379/0"
    if "MLFLOW_TRACKING_PASSWORD" in keys:
        assert MlflowSettings().tracking_uri == f"http://{RELEASE}-mlflow:5000"
        assert (env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]) == (
            "admin",
            secrets["MLFLOW_TRACKING_PASSWORD"],
        )
    if "TWIN_SERVICE_TOKEN" in keys:
        assert InternalAuthSettings().service_token.get_secret_value() == secrets["TWIN_SERVICE_TOKEN"]
    if "TWIN_API_KEY_PEPPER" in keys:
        assert env["TWIN_KEYS_PEPPER"] == secrets["TWIN_API_KEY_PEPPER"]
    # nothing else: a service never gets a credential it does not need
    assert {k for k, v in env.items() if v in secrets.values()} <= {
        {"TWIN_API_KEY_PEPPER": "TWIN_KEYS_PEPPER"}.get(k, k) for k in keys
    } | {"TWIN_REDIS_URL", "TWIN_FEAST_REDIS"}


def test_cdc_hands_connect_a_config_provider_reference_never_the_password(profile, monkeypatch):
    from twin_cdc.settings import CdcSettings

    objects = profile("defaults")
    clean_twin_env(monkeypatch)
    for key, value in pod_env(objects, container_of(objects, f"{RELEASE}-cdc")).items():
        monkeypatch.setenv(key, value)
    config = CdcSettings().connector_config()
    assert config["database.password"] == f"${{secrets:{NAMESPACE}/{RELEASE}-secrets:TWIN_PG_PASSWORD}}"
    assert secret_data(objects)["TWIN_PG_PASSWORD"] not in str(config)
    # Connect resolves it with Strimzi's provider and may read exactly that Secret
    connect = find(objects, "KafkaConnect")[0]["spec"]["config"]
    assert connect["config.providers.secrets.class"] == "io.strimzi.kafka.KubernetesSecretConfigProvider"
    role = find(objects, "Role", f"{RELEASE}-kafka-connect-secrets")[0]
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [f"{RELEASE}-secrets"], "verbs": ["get"]}
    ]


def test_every_credential_comes_from_the_secret(profile):
    for name in ("defaults", "overlay-prod", "zipkin"):
        objects = profile(name)
        secrets = secret_data(objects)
        assert sorted(secrets) == sorted(SECRET_KEYS)
        assert all(len(value) >= 32 for value in secrets.values()), "generated credentials are 32 characters"
        text = yaml.safe_dump([o for o in objects if o["kind"] != "Secret"])
        for key, value in secrets.items():  # no credential inlined anywhere (ConfigMaps, env values, args)
            assert value not in text, f"{key} appears outside the Secret in {name}"
        for workload in workloads(objects):
            for container in pod_spec(workload)["containers"]:
                for item in container.get("env", []):
                    if re.search(r"PASSWORD|TOKEN$|PEPPER|SECRET_KEY|_AUTH$", item["name"]) and "value" in item:
                        assert item["value"].startswith("${secrets:"), (workload["metadata"], item)


def test_given_and_existing_secrets(render, profile):
    fixed = render({"secrets": {"values": {"TWIN_PG_PASSWORD": "s3cret-from-values"}}})
    assert secret_data(fixed)["TWIN_PG_PASSWORD"] == "s3cret-from-values"
    assert secret_data(fixed)["TWIN_REDIS_PASSWORD"] != secret_data(render())["TWIN_REDIS_PASSWORD"]  # random
    objects = profile("existing-secret")
    assert find(objects, "Secret") == []
    refs = {
        item["valueFrom"]["secretKeyRef"]["name"]
        for workload in workloads(objects)
        for container in pod_spec(workload)["containers"]
        for item in container.get("env", [])
        if "secretKeyRef" in item.get("valueFrom", {})
    }
    assert refs == {"twin-credentials"}


# ------------------------------------------------------------------------------------------- hardening


@pytest.mark.parametrize("name", ["defaults", "overlay-prod", "zipkin", "no-kserve-gpu", "connect-build"])
def test_every_pod_is_hardened(profile, name):
    """Every pod of the release, the backing servers included: non-root, no privilege escalation, no
    capabilities, a read-only root filesystem, the runtime's seccomp profile, CPU and memory limits, and no API
    token unless it calls the API (only the trainer's consumer, which creates Jobs)."""
    for workload in workloads(profile(name)):
        pod = pod_spec(workload)
        where = f"{workload['kind']}/{workload['metadata'].get('name') or workload['metadata']['generateName']}"
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        expected_token = where == f"Deployment/{RELEASE}-trainer"
        assert pod["automountServiceAccountToken"] is expected_token, where
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            uid = context.get("runAsUser", pod["securityContext"].get("runAsUser"))
            assert uid and uid != 0, where


@pytest.mark.parametrize("name", ["defaults", "overlay-prod"])
def test_multi_replica_workloads_have_disruption_budgets_and_spread(profile, name):
    objects = profile(name)
    budgets = [p["spec"]["selector"]["matchLabels"] for p in find(objects, "PodDisruptionBudget")]
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h["spec"]["maxReplicas"] for h in find(objects, "HorizontalPodAutoscaler")
    }
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s["spec"]["maxReplicaCount"] for s in find(objects, "ScaledObject")}
    for workload in [o for o in objects if o["kind"] in ("Deployment", "InferenceService")]:
        name_ = workload["metadata"]["name"]
        if workload["kind"] == "InferenceService":
            most = workload["spec"]["predictor"]["maxReplicas"]
        else:
            most = max(workload["spec"].get("replicas", 1), hpas.get(name_, 1), scaled.get(name_, 1))
        if most > 1:
            labels = pod_labels(workload)
            covering = [b for b in budgets if "app.kubernetes.io/name" in b and b.items() <= labels.items()]
            assert len(covering) == 1, f"{name_}: {len(covering)} PodDisruptionBudgets"
            affinity = pod_spec(workload)["affinity"]["podAntiAffinity"]
            assert affinity["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["topologyKey"] == (
                "kubernetes.io/hostname"
            )


def test_hard_anti_affinity_when_asked(profile):
    pod = pod_spec(deployments_by_name(profile("hard-anti-affinity-no-netpol"))[f"{RELEASE}-gateway"])
    assert pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] == (
        "kubernetes.io/hostname"
    )
    assert find(profile("hard-anti-affinity-no-netpol"), "NetworkPolicy") == []


# ------------------------------------------------------------------------------------------- network policies


def policy_of(objects, component: str) -> dict:
    return find(objects, "NetworkPolicy", f"{RELEASE}-netpol-{component}")[0]["spec"]


def selects(selector: dict, labels: dict) -> bool:
    return selector.items() <= labels.items()


def test_default_deny_then_a_policy_for_every_pod(profile):
    objects = profile("defaults")
    deny = find(objects, "NetworkPolicy", f"{RELEASE}-default-deny")[0]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    policies = [p["spec"] for p in find(objects, "NetworkPolicy") if p["metadata"]["name"] != f"{RELEASE}-default-deny"]
    for workload in workloads(objects):
        labels = pod_labels(workload)
        matching = [p for p in policies if selects(p["podSelector"]["matchLabels"], labels)]
        assert len(matching) == 1, f"{labels}: {len(matching)} policies"
        for rule in matching[0].get("egress", []):  # DNS first, then only named peers on named ports
            assert rule.get("to"), "an egress rule without peers would allow everything"
    # Strimzi's pods (brokers, Connect) get policies too
    assert policy_of(objects, "kafka")["podSelector"]["matchLabels"] == {
        "strimzi.io/cluster": "twin",
        "strimzi.io/kind": "Kafka",
    }


def peers(rules, key) -> list[tuple[dict, list[int]]]:
    return [
        (peer.get("podSelector", {}).get("matchLabels", {}), [p["port"] for p in rule.get("ports", [])])
        for rule in rules
        for peer in rule.get(key, [])
    ]


def test_the_call_graph_in_the_policies(profile):
    objects = profile("defaults")
    name = lambda n: {"app.kubernetes.io/name": n, "app.kubernetes.io/instance": RELEASE}  # noqa: E731
    # PostgreSQL: reached only by those that use it, on its port
    postgres_in = peers(policy_of(objects, "postgresql")["ingress"], "from")
    callers = {s["app.kubernetes.io/name"] for s, _ in postgres_in if "app.kubernetes.io/name" in s}
    assert callers == {"gateway", "ingest", "mlflow", "monitor", "trainer", "trainer-job"}
    assert {tuple(ports) for _, ports in postgres_in} == {(5432,)}
    strimzi = [s for s, _ in peers(policy_of(objects, "postgresql")["ingress"], "from") if "strimzi.io/kind" in s]
    assert strimzi == [{"strimzi.io/cluster": "twin", "strimzi.io/kind": "KafkaConnect"}]  # Debezium
    # ingest: only from the gateway, on its port; egress to PostgreSQL and public web pages only
    ingest = policy_of(objects, "ingest")
    assert peers(ingest["ingress"], "from") == [(name("gateway"), [8101])]
    internet = [r for r in ingest["egress"] if r["to"][0].get("ipBlock", {}).get("except")]
    assert internet and "169.254.0.0/16" in internet[0]["to"][0]["ipBlock"]["except"]
    # the gateway: from anywhere on its two ports
    gateway_in = policy_of(objects, "gateway")["ingress"]
    assert {"ports": [{"port": 8100, "protocol": "TCP"}, {"port": 50051, "protocol": "TCP"}]} in gateway_in
    # every egress to a pod of the release is matched by that pod's ingress (the two ends agree)
    policies = {p["metadata"]["name"]: p["spec"] for p in find(objects, "NetworkPolicy")}
    for source in policies.values():
        for selector, _ports in peers(source.get("egress", []), "to"):
            if not selector:
                continue
            targets = [
                p for p in policies.values() if selector.items() <= p["podSelector"].get("matchLabels", {}).items()
            ]
            assert targets, f"egress to {selector}, which no policy selects"
            labels = source["podSelector"]["matchLabels"]
            for target in targets:
                allowed = [s for s, _ in peers(target.get("ingress", []), "from")]
                assert any(s.items() <= labels.items() for s in allowed), (labels, target["podSelector"])
    # the trainer's consumer may reach the API server (it creates Jobs); a twin service that does not, may not
    assert any(p["port"] == 443 for r in policy_of(objects, "trainer")["egress"] for p in r.get("ports", []))
    assert not any(p["port"] == 443 for r in policy_of(objects, "embedder")["egress"] for p in r.get("ports", []))


# ------------------------------------------------------------------------------------------- inference


def isvc_container(isvc):
    return isvc["spec"]["predictor"]["containers"][0]


def test_no_gpu_anywhere_by_default(profile):
    objects = profile("defaults")
    assert [o["metadata"]["name"] for o in objects if GPU in str(o)] == []
    for isvc in find(objects, "InferenceService"):
        assert container_env(isvc_container(isvc))["TWIN_DEVICE"] == "cpu"
        assert "nodeSelector" not in isvc["spec"]["predictor"]


def test_gpu_only_for_models_and_jobs_that_ask_when_enabled(profile):
    objects = profile("gpu")
    with_gpu = sorted(o["metadata"]["name"] for o in objects if GPU in str(o))
    assert with_gpu == [f"{RELEASE}-inference-llm", f"{RELEASE}-trainer-job"]
    llm = find(objects, "InferenceService", f"{RELEASE}-inference-llm")[0]
    predictor = llm["spec"]["predictor"]
    resources = isvc_container(llm)["resources"]
    assert resources["limits"][GPU] == "1" and resources["requests"][GPU] == "1"
    assert predictor["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in predictor["tolerations"]
    assert container_env(isvc_container(llm))["TWIN_DEVICE"] == "cuda"


def test_each_inference_service_serves_only_its_model_and_may_start_slowly(profile, monkeypatch):
    inference_settings = settings_of("inference")
    objects = profile("defaults")
    for isvc in find(objects, "InferenceService"):
        model = isvc["metadata"]["name"].rsplit("-", 1)[1]
        clean_twin_env(monkeypatch)
        for key, value in pod_env(objects, isvc_container(isvc)).items():
            monkeypatch.setenv(key, value)
        settings = inference_settings()
        served = {m for m in ("llm", "embed", "rerank") if getattr(settings, f"serve_{m}")}
        assert served == {model}
        assert settings.http_port == 8105
        container = isvc_container(isvc)
        assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8105}
        # SmolLM2's conversion takes about a minute: liveness only counts after the startup probe succeeded
        startup = container["startupProbe"]
        assert startup["httpGet"] == {"path": "/v2/health/live", "port": 8105}
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 180
        assert isvc["spec"]["predictor"]["labels"]["app.kubernetes.io/component"] == "inference"


def test_without_kserve_one_deployment_serves_all_models_with_gpu_when_enabled(profile):
    objects = profile("no-kserve-gpu")
    assert find(objects, "InferenceService") == []
    container = container_of(objects, f"{RELEASE}-inference")
    env = container_env(container)
    assert (env["TWIN_SERVE_LLM"], env["TWIN_SERVE_EMBED"], env["TWIN_SERVE_RERANK"]) == ("true", "true", "true")
    assert container["resources"]["limits"][GPU] == "1"
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert not any(GPU in str(o) for o in profile("overlay-dev"))


def test_inference_exposes_grpc_by_default_and_rest_when_asked(profile):
    """KServe's predictor Service maps its port 80 to the first container port; Standard mode exposes the other
    port under its own number, Knative admits one port."""
    h2c = {"name": "h2c", "containerPort": 8106, "protocol": "TCP"}
    http = {"name": "http1", "containerPort": 8105, "protocol": "TCP"}
    isvc = find(profile("defaults"), "InferenceService")[0]
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    assert isvc_container(isvc)["ports"] == [h2c, http]
    assert isvc_container(find(profile("http-protocol-and-probes"), "InferenceService")[0])["ports"] == [http, h2c]
    knative = find(profile("knative"), "InferenceService")[0]
    assert isvc_container(knative)["ports"] == [h2c]
    # the activator in front of Knative's predictors may reach them
    inference_in = policy_of(profile("knative"), "inference")["ingress"]
    namespaces = [p.get("namespaceSelector") for rule in inference_in for p in rule.get("from", [])]
    assert {"matchLabels": {"kubernetes.io/metadata.name": "knative-serving"}} in namespaces


def test_there_is_no_triton_option(chart):
    """runtime: triton could not run as shipped (docs/deploy.md): the option is gone, and refused if given."""
    assert "triton" not in (CHART / "values.yaml").read_text().lower().replace("there is no triton option", "")
    with pytest.raises(helm_python.HelmValuesError, match="runtime"):
        chart.render({"inference": {"runtime": "triton"}}, name=RELEASE, namespace=RELEASE)


# ------------------------------------------------------------------------------------------- trainer, monitor


def test_trainer_consumer_creates_training_jobs(profile):
    objects = profile("defaults")
    consumer = deployments_by_name(objects)[f"{RELEASE}-trainer"]
    pod = pod_spec(consumer)
    container = pod["containers"][0]
    # the consumer reserves little: the 1 CPU / 2 GiB of a training run belong to the Jobs
    assert container["resources"]["requests"] == {"cpu": "100m", "memory": "256Mi"}
    assert pod["serviceAccountName"] == f"{RELEASE}-trainer"
    role = find(objects, "Role", f"{RELEASE}-trainer")[0]
    assert {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]} in (
        role["rules"]
    )
    binding = find(objects, "RoleBinding", f"{RELEASE}-trainer")[0]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": f"{RELEASE}-trainer", "namespace": NAMESPACE}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    template_path = container_env(container)["TWIN_TRAINER_JOB_TEMPLATE"]
    mount = next(m for m in container["volumeMounts"] if template_path.startswith(m["mountPath"]))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    config = find(objects, "ConfigMap", volume["configMap"]["name"])[0]
    job = yaml.safe_load(config["data"][template_path.rsplit("/", 1)[1]])
    assert job["kind"] == "Job" and job["metadata"]["namespace"] == NAMESPACE
    train = job["spec"]["template"]["spec"]["containers"][0]
    assert train["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}
    assert train["image"] == container["image"]
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "trainer-job"
    assert job["spec"]["ttlSecondsAfterFinished"] > 0 and job["spec"]["backoffLimit"] <= 2


def test_monitor_keeps_its_reports_on_a_volume(profile):
    objects = profile("defaults")
    pod = pod_spec(deployments_by_name(objects)[f"{RELEASE}-monitor"])
    env = container_env(pod["containers"][0])
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == env["TWIN_REPORTS_DIR"])
    claim = next(v for v in pod["volumes"] if v["name"] == mount["name"])["persistentVolumeClaim"]["claimName"]
    assert find(objects, "PersistentVolumeClaim", claim)[0]["spec"]["accessModes"] == ["ReadWriteOnce"]


# ------------------------------------------------------------------------------------------- KEDA


def test_consumers_scale_on_their_group_lag(profile, monkeypatch):
    from twin_common import topics

    objects = profile("keda")
    partitions = {spec.name: spec.partitions for spec in topics.all_topic_specs()}
    clean_twin_env(monkeypatch)
    embedder = settings_of("embedder")()
    scaled = find(objects, "ScaledObject", f"{RELEASE}-embedder")[0]["spec"]
    assert scaled["scaleTargetRef"] == {"name": f"{RELEASE}-embedder"}
    assert "replicas" not in deployments_by_name(objects)[f"{RELEASE}-embedder"]["spec"]
    [trigger] = scaled["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == embedder.group_id
    assert trigger["metadata"]["topic"] == embedder.topic
    assert trigger["metadata"]["bootstrapServers"] == "twin-kafka-bootstrap:9092"
    for obj in find(objects, "ScaledObject"):
        for trigger in obj["spec"]["triggers"]:
            assert obj["spec"]["maxReplicaCount"] <= partitions[trigger["metadata"]["topic"]]
    assert find(objects, "PodDisruptionBudget", f"{RELEASE}-embedder")
    # KEDA's operator reads the lag from Kafka: its namespace may reach the brokers
    kafka_in = policy_of(objects, "kafka")["ingress"]
    assert any(
        peer.get("namespaceSelector", {}).get("matchLabels") == {"kubernetes.io/metadata.name": "keda"}
        for rule in kafka_in
        for peer in rule.get("from", [])
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"embedder": {"autoscaling": {"keda": {"enabled": True, "maxReplicas": 7}}}}, "exceeds the 6 partitions"),
        ({"embedder": {"autoscaling": {"keda": {"enabled": True, "topics": ["twin.nope"]}}}}, "not a topic"),
        ({"monitor": {"autoscaling": {"keda": {"enabled": True, "maxReplicas": 2}}}}, "ReadWriteMany"),
        ({"kafka": {"connect": {"build": {"enabled": True}}}}, "outputImage is required"),
    ],
)
def test_values_that_cannot_work_are_refused(chart, values, message):
    with pytest.raises(helm_python.HelmError, match=message):
        chart.render(values, name=RELEASE, namespace=RELEASE)


# ------------------------------------------------------------------------------------------- backing servers


def test_postgresql_runs_with_logical_wal_and_creates_mlflows_database(profile):
    objects = profile("defaults")
    postgres = find(objects, "StatefulSet", f"{RELEASE}-postgresql")[0]
    args = pod_spec(postgres)["containers"][0]["args"]
    assert args[args.index("wal_level=logical") - 1] == "-c"
    init = find(objects, "ConfigMap", f"{RELEASE}-postgresql-init")[0]["data"]
    assert "CREATE DATABASE mlflow" in next(iter(init.values()))


def test_mlflow_runs_with_auth_and_its_store_in_postgresql(profile):
    objects = profile("defaults")
    container = container_of(objects, f"{RELEASE}-mlflow")
    assert "--app-name=basic-auth" in container["args"]
    env = pod_env(objects, container)
    secrets = secret_data(objects)
    assert env["MLFLOW_BACKEND_STORE_URI"] == (
        f"postgresql+psycopg://twin:{secrets['TWIN_PG_PASSWORD']}@{RELEASE}-postgresql:5432/mlflow"
    )
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == secrets["MLFLOW_TRACKING_PASSWORD"]
    assert container["image"] == "twin-mlflow:0.1.0"
    auth = find(objects, "ConfigMap", f"{RELEASE}-mlflow")[0]["data"]["basic_auth.ini"]
    assert "database_uri = sqlite:////mlflow/basic_auth.db" in auth  # on the volume mounted at /mlflow


def test_redis_has_vector_search_and_a_password(profile):
    objects = profile("defaults")
    redis = find(objects, "StatefulSet", f"{RELEASE}-redis")[0]
    container = pod_spec(redis)["containers"][0]
    assert container["image"].startswith("redis/redis-stack-server:7.4")
    args = container["args"]
    assert "/opt/redis-stack/lib/redisearch.so" in args and args[args.index("--requirepass") + 1] == "$(REDISCLI_AUTH)"
    assert pod_env(objects, container)["REDISCLI_AUTH"] == secret_data(objects)["TWIN_REDIS_PASSWORD"]


# ------------------------------------------------------------------------------------------- kafka / cdc


@pytest.mark.parametrize(("brokers", "replication", "min_isr"), [(1, 1, 1), (2, 2, 1), (3, 3, 2), (5, 3, 2)])
def test_replication_follows_the_cluster_size(render, brokers, replication, min_isr):
    objects = render({"kafka": {"replicas": brokers}})
    config = find(objects, "Kafka")[0]["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == replication and config["min.insync.replicas"] == min_isr
    assert {t["spec"]["replicas"] for t in find(objects, "KafkaTopic")} == {replication}
    assert find(objects, "KafkaNodePool")[0]["spec"]["replicas"] == brokers


def test_kafka_is_strimzi_v1_kraft(profile):
    objects = profile("defaults")
    for kind in ("Kafka", "KafkaNodePool", "KafkaConnect", "KafkaTopic"):
        assert {o["apiVersion"] for o in find(objects, kind)} == {"kafka.strimzi.io/v1"}
    kafka = find(objects, "Kafka")[0]
    pool = find(objects, "KafkaNodePool")[0]
    assert "zookeeper" not in kafka["spec"] and "annotations" not in kafka["metadata"]
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert kafka["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False


def test_connector_resource_and_cdc_service_are_exclusive(chart):
    with pytest.raises(helm_python.HelmError, match="exclusive"):
        chart.render({"kafka": {"connect": {"connectorResource": True}}}, name=RELEASE, namespace=RELEASE)


def test_kafka_connector_matches_the_cdc_service_config(profile):
    from twin_cdc.connector import connector_config

    objects = profile("connector-resource")
    connect = find(objects, "KafkaConnect")[0]
    assert connect["metadata"]["annotations"]["strimzi.io/use-connector-resources"] == "true"
    connector = find(objects, "KafkaConnector")[0]
    expected = connector_config()
    assert connector["spec"]["class"] == expected.pop("connector.class")
    assert connector["spec"]["tasksMax"] == int(expected.pop("tasks.max"))
    config = {k: str(v) for k, v in connector["spec"]["config"].items()}
    assert config["database.hostname"] == f"{RELEASE}-postgresql"
    assert config["database.password"].startswith("${secrets:")  # never the password itself
    for key in ("database.hostname", "database.port", "database.password"):
        expected.pop(key)
    assert {k: config.get(k) for k in expected} == expected


def test_connect_runs_the_prebuilt_image_or_builds_to_a_given_registry(profile):
    built = find(profile("connect-build"), "KafkaConnect")[0]["spec"]
    assert built["build"]["output"]["image"] == "registry.example/connect:1" and "image" not in built
    artifact = built["build"]["plugins"][0]["artifacts"][0]
    assert (artifact["group"], artifact["artifact"]) == ("io.debezium", "debezium-connector-postgres")
    prebuilt = find(profile("defaults"), "KafkaConnect")[0]["spec"]
    assert prebuilt["image"] == "twin-connect:0.1.0" and "build" not in prebuilt
    registry = find(profile("registry-and-pull-secrets"), "KafkaConnect")[0]["spec"]
    assert registry["image"] == "registry.example/twin/twin-connect:0.1.0"
    assert prebuilt["groupId"] == "twin-connect" and prebuilt["configStorageTopic"] == "twin-connect-configs"


# ------------------------------------------------------------------------------------------- telemetry


@pytest.mark.parametrize(
    ("name", "exporter", "endpoint"),
    [
        ("defaults", "otlp_grpc/trace_store", f"{RELEASE}-trace-store:4317"),
        ("zipkin", "zipkin/trace_store", f"http://{RELEASE}-trace-store:9411/api/v2/spans"),
        ("no-trace-store", None, None),
    ],
)
def test_collector_sends_traces_to_the_chosen_trace_store(profile, name, exporter, endpoint):
    objects = profile(name)
    config = yaml.safe_load(find(objects, "ConfigMap", f"{RELEASE}-otel-collector")[0]["data"]["config.yaml"])
    pipelines = config["service"]["pipelines"]
    for pipeline in pipelines.values():  # every component a pipeline names is defined
        for receiver in pipeline["receivers"]:
            assert receiver in config["receivers"] or receiver in config["connectors"]
        for target in pipeline["exporters"]:
            assert target in config["exporters"] or target in config["connectors"]
        for processor in pipeline["processors"]:
            assert processor in config["processors"]
    stores = find(objects, "Deployment", f"{RELEASE}-trace-store")
    if exporter is None:
        assert stores == [] and not [e for e in pipelines["traces"]["exporters"] if "trace_store" in e]
        return
    assert exporter in pipelines["traces"]["exporters"]
    assert config["exporters"][exporter]["endpoint"] == endpoint
    port = int(endpoint.rsplit(":", 1)[1].split("/")[0])
    service = find(objects, "Service", f"{RELEASE}-trace-store")[0]
    assert port in [p["port"] for p in service["spec"]["ports"]]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"inference": {"kserve": {"protocol": "rest"}}}, "/inference/kserve/protocol"),
        ({"inference": {"models": {"gpt": {"enabled": True, "registeredName": "x"}}}}, "'gpt' not allowed"),
        ({"gateway": {"port": "8100"}}, "/gateway/port"),
        ({"gateway": {"replica": 2}}, "'replica' not allowed"),
        ({"kafka": {"replicas": 0}}, "/kafka/replicas"),
        ({"traceStore": {"kind": "tempo"}}, "/traceStore/kind"),
        ({"embedder": {"secretEnv": ["TWIN_PG_PASSWRD"]}}, "/embedder/secretEnv/0"),
        ({"secrets": {"values": {"TWIN_PG_PASS": "x"}}}, "'TWIN_PG_PASS' not allowed"),
    ],
)
def test_bad_values_are_refused_with_the_key_named(chart, values, message):
    with pytest.raises(helm_python.HelmValuesError, match=re.escape(message)):
        chart.render(values, name=RELEASE, namespace=RELEASE)


# Settings of this round's services that the chart sets: each check runs once the service's settings have the field
# (the services are built on their own branches; a check skips, saying so, until they are merged).
NEW_SERVICE_SETTINGS = {
    "gateway-pepper": ("gateway", "keys.pepper", lambda env, s: s["TWIN_API_KEY_PEPPER"]),
    "gateway-ingest": ("gateway", "ingest_url", lambda env, s: f"http://{RELEASE}-ingest:8101"),
    "gateway-inference": ("gateway", "inference_url", lambda env, s: f"{RELEASE}-inference-llm-predictor:80"),
    "gateway-qdrant": ("gateway", "qdrant_url", lambda env, s: f"http://{RELEASE}-qdrant:6333"),
    "monitor-reports": ("monitor", "reports_dir", lambda env, s: "/var/lib/twin"),
    "monitor-group": ("monitor", "group_id", lambda env, s: "twin-monitor"),  # KEDA's consumerGroup
    "trainer-launcher": ("trainer", "launcher", lambda env, s: "kubernetes"),
    "trainer-job-image": ("trainer", "kubernetes.image", lambda env, s: "twin-trainer:0.1.0"),
    "trainer-job-namespace": ("trainer", "kubernetes.namespace", lambda env, s: "<fieldRef>"),
    "trainer-job-account": ("trainer", "kubernetes.service_account", lambda env, s: f"{RELEASE}-trainer-job"),
    "trainer-job-secret": ("trainer", "kubernetes.env_from_secret", lambda env, s: f"{RELEASE}-secrets"),
    "trainer-job-config": ("trainer", "kubernetes.env_from_config_map", lambda env, s: f"{RELEASE}-config"),
    "embedder-qdrant": ("embedder", "qdrant_url", lambda env, s: f"http://{RELEASE}-qdrant:6333"),
}


@pytest.mark.parametrize("check", sorted(NEW_SERVICE_SETTINGS))
def test_services_read_what_the_chart_sets(profile, check, monkeypatch):
    service, path, expected = NEW_SERVICE_SETTINGS[check]
    objects = profile("defaults")
    env = pod_env(objects, container_of(objects, f"{RELEASE}-{service}"))
    clean_twin_env(monkeypatch)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    value = settings_of(service)()
    for part in path.split("."):
        if not hasattr(value, part):
            pytest.skip(f"{service}'s settings have no {path} on this branch")
        value = getattr(value, part)
    value = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    assert str(value) == expected(env, secret_data(objects))
