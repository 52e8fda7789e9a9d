"""The Kubernetes launcher: the Job it renders validates against the Kubernetes schema and runs `twin train twin`
for the trigger's author; it is created through the API (a fake API here), once per trigger, and not at all while
a run of the author holds the lock."""

from __future__ import annotations

import json

import httpx
import pytest
from kubernetes_validate import utils as kv
from twin_trainer.continuous import launcher as launcher_module
from twin_trainer.continuous.launcher import KubernetesJobLauncher, RunRequest, job_name, render_job
from twin_trainer.settings import KubernetesJobSettings

REQUEST = RunRequest("acme", "5f1c0a4e-0000-4000-8000-000000000001", "documents", "20 new or changed documents", 42)


def test_rendered_job_is_valid_and_runs_the_twin_for_the_author():
    settings = KubernetesJobSettings(image="registry.local/twin:1.2.3", extra_args=["--max-length", "1024"], gpu=1)
    job = render_job(REQUEST, settings)
    kv.validate(job, "1.33.0", strict=True)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["twin-trainer"]
    assert container["args"][:6] == ["train", "twin", "--author", REQUEST.author_id, "--tenant", "acme"]
    assert container["args"][-2:] == ["--max-length", "1024"]
    assert "documents: 20 new or changed documents (trigger 42)" in container["args"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["metadata"]["name"] == job_name(REQUEST) and len(job_name(REQUEST)) <= 63
    assert job_name(REQUEST) != job_name(RunRequest("acme", REQUEST.author_id, "drift", "x", 43))


def test_the_launcher_posts_the_job_once_per_trigger(monkeypatch):
    monkeypatch.setattr(launcher_module, "is_locked", lambda dsn, tenant, author: False)
    created: dict[str, dict] = {}

    def api(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/apis/batch/v1/namespaces/twin/jobs" and request.method == "POST"
        body = json.loads(request.content)
        name = body["metadata"]["name"]
        if name in created:
            return httpx.Response(409, json={"reason": "AlreadyExists"})
        created[name] = body
        return httpx.Response(201, json=body)

    http = httpx.Client(base_url="https://k8s.test", transport=httpx.MockTransport(api))
    launcher = KubernetesJobLauncher(KubernetesJobSettings(namespace="twin"), "postgresql://unused", http=http)
    first = launcher.launch(REQUEST)
    again = launcher.launch(REQUEST)  # the same trigger handled twice (a replay): no second Job
    assert first.started and "created Job twin/" in first.detail
    assert again.started and "exists already" in again.detail
    assert len(created) == 1


def test_the_launcher_creates_nothing_while_a_run_of_the_author_holds_the_lock(monkeypatch):
    monkeypatch.setattr(launcher_module, "is_locked", lambda dsn, tenant, author: True)

    def api(request):  # pragma: no cover - must not be called
        raise AssertionError("a Job was created during a run")

    launcher = KubernetesJobLauncher(
        KubernetesJobSettings(), "postgresql://unused", http=httpx.Client(transport=httpx.MockTransport(api))
    )
    outcome = launcher.launch(REQUEST)
    assert not outcome.started and "in progress" in outcome.detail


def test_an_api_error_is_raised_so_the_consumer_waits_it_out(monkeypatch):
    monkeypatch.setattr(launcher_module, "is_locked", lambda dsn, tenant, author: False)
    http = httpx.Client(base_url="https://k8s.test", transport=httpx.MockTransport(lambda request: httpx.Response(503)))
    with pytest.raises(httpx.HTTPStatusError):
        KubernetesJobLauncher(KubernetesJobSettings(), "postgresql://unused", http=http).launch(REQUEST)


def test_a_triggered_run_gets_the_author_tenant_trigger_and_configured_flags():
    from twin_trainer.cli import build_parser
    from twin_trainer.llm.cli import config_from_args

    argv = ["twin", *REQUEST.twin_args(["--max-length", "256", "--sft-epochs", "1", "--no-dpo"])]
    config = config_from_args(build_parser().parse_args(argv))
    assert (config.author, config.tenant) == (REQUEST.author_id, "acme")
    assert config.trigger == "documents: 20 new or changed documents (trigger 42)"
    assert config.sft.max_length == config.dpo.max_length == 256 and config.sft.epochs == 1
    assert not config.dpo.enabled
    assert config.lora.r == 32 and config.sft.grad_accumulation == 8  # untouched flags keep the reference recipe


CHART_TEMPLATE = """
apiVersion: batch/v1
kind: Job
metadata:
  generateName: twin-trainer-job-
  namespace: twin
  labels: {app.kubernetes.io/name: trainer-job, app.kubernetes.io/instance: twin}
spec:
  backoffLimit: 1
  ttlSecondsAfterFinished: 86400
  template:
    metadata:
      labels: {app.kubernetes.io/name: trainer-job, app.kubernetes.io/instance: twin}
    spec:
      restartPolicy: Never
      serviceAccountName: twin-trainer-job
      containers:
        - name: train
          image: twin-trainer:0.1.0
          args: []
          envFrom: [{configMapRef: {name: twin-config}}]
          env:
            - {name: TWIN_SERVICE_NAME, value: twin-trainer-job}
          resources:
            requests: {cpu: "2", memory: 2Gi}
            limits: {cpu: "2", memory: 6Gi}
"""


def test_the_charts_job_template_is_filled_in_for_the_run(tmp_path, monkeypatch):
    """The chart mounts a complete Job (TWIN_TRAINER_JOB_TEMPLATE): its labels (which its NetworkPolicy selects),
    account, resources and environment stay; the run's name, command, args and annotations are the launcher's."""
    path = tmp_path / "job.yaml"
    path.write_text(CHART_TEMPLATE)
    monkeypatch.setenv("TWIN_TRAINER_JOB_TEMPLATE", str(path))
    settings = KubernetesJobSettings(extra_args=["--max-sft-rows", "128"])
    assert settings.template == path
    job = render_job(REQUEST, settings)
    kv.validate(job, "1.33.0", strict=True)
    assert job["metadata"]["name"] == job_name(REQUEST) and "generateName" not in job["metadata"]
    assert job["metadata"]["namespace"] == "twin"
    assert job["metadata"]["labels"]["app.kubernetes.io/name"] == "trainer-job"
    assert job["metadata"]["annotations"]["twin.dev/author"] == REQUEST.author_id
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "twin-trainer-job"
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "trainer-job"
    container = pod["containers"][0]
    assert container["command"] == ["twin-trainer"]  # the image's entry point; `train twin` makes it run once
    assert container["args"][:4] == ["train", "twin", "--author", REQUEST.author_id]
    assert container["args"][-2:] == ["--max-sft-rows", "128"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TWIN_SERVICE_NAME"] == "twin-trainer-job" and env["TWIN_TORCH_THREADS"] == "2"
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "2Gi"}


def test_the_service_entry_point_runs_a_training_job_when_given_train():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "twin_trainer", "train", "twin", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "--author" in done.stdout
    wrong = subprocess.run([sys.executable, "-m", "twin_trainer", "serve"], capture_output=True, text=True, timeout=120)
    assert wrong.returncode != 0 and "usage: twin-trainer" in wrong.stderr
