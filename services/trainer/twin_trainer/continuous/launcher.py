"""Launchers of training runs: in this process (the local stack) or as a Kubernetes Job.

Both refuse to start a run while another run of the same author holds the advisory lock (runlock): the in-process
launcher takes the lock itself and holds it for the run; the Job launcher looks at the lock before creating the
Job, and the Job's `twin train twin` takes it again, exiting with status 3 if it lost a race (never two at once).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from twin_trainer.runlock import AuthorRunLock, is_locked
from twin_trainer.settings import KubernetesJobSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRequest:
    tenant_id: str
    author_id: str
    kind: str  # documents | drift | schedule | manual
    reason: str
    trigger_id: int | None = None

    def twin_args(self, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
        """The `twin train twin` arguments of this run."""
        return ["--author", self.author_id, "--tenant", self.tenant_id, "--trigger", self.trigger_text, *extra]

    @property
    def trigger_text(self) -> str:
        return f"{self.kind}: {self.reason}" + (f" (trigger {self.trigger_id})" if self.trigger_id else "")


@dataclass(frozen=True)
class LaunchOutcome:
    started: bool
    detail: str


class Launcher(Protocol):
    def launch(self, request: RunRequest) -> LaunchOutcome: ...


RunFunction = Callable[[RunRequest], Any]
Finished = Callable[[RunRequest, bool, str], None]  # (request, succeeded, detail)


class InProcessLauncher:
    """Runs `run(request)` on a thread of this process while holding the author's lock."""

    def __init__(self, dsn: str, run: RunFunction, on_finished: Finished | None = None):
        self.dsn = dsn
        self.run = run
        self.on_finished = on_finished
        self.threads: list[threading.Thread] = []

    def launch(self, request: RunRequest) -> LaunchOutcome:
        lock = AuthorRunLock(self.dsn, request.tenant_id, request.author_id)
        if not lock.try_acquire():
            return LaunchOutcome(False, "a run of this author is in progress")
        thread = threading.Thread(target=self._run, args=(request, lock), name=f"twin-run-{request.author_id[:8]}")
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()
        return LaunchOutcome(True, "started in process")

    def _run(self, request: RunRequest, lock: AuthorRunLock) -> None:
        succeeded, detail = False, ""
        try:
            result = self.run(request)
            succeeded, detail = True, _describe(result)
        except Exception as exc:  # noqa: BLE001 - a failed run is recorded, the consumer goes on
            log.exception("training run for %s/%s failed", request.tenant_id, request.author_id)
            detail = f"{type(exc).__name__}: {exc}"[:2000]
        finally:
            lock.release()
        if self.on_finished is not None:
            self.on_finished(request, succeeded, detail)

    def join(self, timeout: float | None = None) -> None:
        for thread in list(self.threads):
            thread.join(timeout)


def _describe(result: Any) -> str:
    version, alias = getattr(result, "version", None), getattr(result, "alias", None)
    return f"version {version} -> @{alias}: {getattr(result, 'reason', '')}"[:2000] if version else "finished"


# --- Kubernetes --------------------------------------------------------------------------------------


def job_name(request: RunRequest) -> str:
    """A DNS-1123 name, unique per trigger: twin-train-<author hash>-<trigger id or hash>."""
    author = hashlib.sha1(f"{request.tenant_id}/{request.author_id}".encode()).hexdigest()[:10]
    suffix = str(request.trigger_id) if request.trigger_id else hashlib.sha1(request.reason.encode()).hexdigest()[:8]
    return re.sub(r"[^a-z0-9-]", "-", f"twin-train-{author}-{suffix}".lower())[:63].rstrip("-")


# the trainer image's entry point: `twin-trainer` serves, `twin-trainer train twin ...` runs one training run
JOB_COMMAND = ["twin-trainer"]


def render_job(request: RunRequest, settings: KubernetesJobSettings) -> dict:
    """The batch/v1 Job that runs `twin train twin` for one trigger: the template's (the chart's) when configured,
    else one built from the settings."""
    if settings.template is not None:
        return _from_template(request, settings)
    args = ["train", "twin", *request.twin_args(settings.extra_args)]
    resources: dict[str, dict[str, Any]] = {
        "requests": {"cpu": settings.cpu_request, "memory": settings.memory_request},
        "limits": {"memory": settings.memory_limit},
    }
    if settings.gpu:
        resources["limits"]["nvidia.com/gpu"] = settings.gpu
    env_from = []
    if settings.env_from_config_map:
        env_from.append({"configMapRef": {"name": settings.env_from_config_map}})
    if settings.env_from_secret:
        env_from.append({"secretRef": {"name": settings.env_from_secret}})
    labels = {
        "app.kubernetes.io/name": "twin-trainer-job",
        "app.kubernetes.io/part-of": "twin",
        **_trigger_label(request),
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(request),
            "namespace": settings.namespace,
            "labels": labels,
            "annotations": _annotations(request),
        },
        "spec": {
            "backoffLimit": settings.backoff_limit,
            "ttlSecondsAfterFinished": settings.ttl_seconds_after_finished,
            "activeDeadlineSeconds": settings.active_deadline_seconds,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": settings.service_account,
                    "restartPolicy": "Never",
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
                    "containers": [
                        {
                            "name": "train",
                            "image": settings.image,
                            "command": JOB_COMMAND,
                            "args": args,
                            "envFrom": env_from,
                            "env": [
                                {"name": "HOME", "value": "/var/lib/twin"},
                                {"name": "HF_HUB_OFFLINE", "value": "1"},
                                {"name": "TWIN_LOG_JSON", "value": "true"},
                                {"name": "TWIN_TORCH_THREADS", "value": str(_threads(settings.cpu_request))},
                            ],
                            "resources": resources,
                            "volumeMounts": [{"name": "work", "mountPath": "/var/lib/twin"}],
                            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                        }
                    ],
                    "volumes": [{"name": "work", "emptyDir": {}}],
                },
            },
        },
    }


def _from_template(request: RunRequest, settings: KubernetesJobSettings) -> dict:
    """The template with this run filled in: a name per trigger (no generateName: a trigger handled twice must find
    its Job, 409), the run's command and args in the first container, annotations and the trigger label added."""
    import yaml

    job = yaml.safe_load(settings.template.read_text())
    metadata = job.setdefault("metadata", {})
    metadata.pop("generateName", None)
    metadata["name"] = job_name(request)
    metadata.setdefault("namespace", settings.namespace)
    metadata["labels"] = {**(metadata.get("labels") or {}), **_trigger_label(request)}
    metadata["annotations"] = {**(metadata.get("annotations") or {}), **_annotations(request)}
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["command"] = JOB_COMMAND
    container["args"] = ["train", "twin", *request.twin_args(settings.extra_args)]
    env = container.setdefault("env", [])
    names = {e["name"] for e in env}
    cpu = str(((container.get("resources") or {}).get("requests") or {}).get("cpu", settings.cpu_request))
    for name, value in (("HF_HUB_OFFLINE", "1"), ("TWIN_TORCH_THREADS", str(_threads(cpu)))):
        if name not in names:
            env.append({"name": name, "value": value})
    return job


def _trigger_label(request: RunRequest) -> dict[str, str]:
    return {"twin.dev/trigger-kind": request.kind}


def _annotations(request: RunRequest) -> dict[str, str]:
    return {
        "twin.dev/tenant": request.tenant_id,
        "twin.dev/author": request.author_id,
        "twin.dev/trigger": request.trigger_text[:1000],
    }


def _threads(cpu: str) -> int:
    """Torch threads for a CPU request ("2" -> 2, "1500m" -> 1): more threads than CPUs only spin."""
    return max(1, int(float(cpu[:-1]) / 1000) if cpu.endswith("m") else int(float(cpu)))


class KubernetesJobLauncher:
    """Creates the Job through the Kubernetes API over plain HTTPS with the pod's service-account token."""

    def __init__(self, settings: KubernetesJobSettings, dsn: str, http=None):
        self.settings = settings
        self.dsn = dsn
        self._http = http

    def _client(self):
        if self._http is None:
            import httpx

            token = self.settings.token_file.read_text().strip()
            self._http = httpx.Client(
                base_url=self.settings.api_url,
                headers={"Authorization": f"Bearer {token}"},
                verify=str(self.settings.ca_file),
                timeout=30,
            )
        return self._http

    def launch(self, request: RunRequest) -> LaunchOutcome:
        if is_locked(self.dsn, request.tenant_id, request.author_id):
            return LaunchOutcome(False, "a run of this author is in progress")
        manifest = render_job(request, self.settings)
        path = f"/apis/batch/v1/namespaces/{self.settings.namespace}/jobs"
        response = self._client().post(path, json=manifest)
        name = manifest["metadata"]["name"]
        if response.status_code == 201:
            return LaunchOutcome(True, f"created Job {self.settings.namespace}/{name}")
        if response.status_code == 409:  # the same trigger handled twice: its Job exists already
            return LaunchOutcome(True, f"Job {self.settings.namespace}/{name} exists already")
        response.raise_for_status()
        return LaunchOutcome(False, f"unexpected answer {response.status_code} creating Job {name}")
