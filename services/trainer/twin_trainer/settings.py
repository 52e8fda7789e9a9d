"""Settings of the trainer service and its runs (environment variables TWIN_*; defaults fit the local stack)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from twin_common import topics
from twin_common.settings import (
    LOCAL_TRAINER_PORT,
    KafkaSettings,
    MlflowSettings,
    PostgresSettings,
    ServiceSettings,
    local_env_file,
)


def _work_dir() -> Path:
    return Path.home() / ".cache" / "twin" / "trainer"


class KubernetesJobSettings(BaseSettings):
    """How the consumer creates a training Job (launcher `kubernetes`; env TWIN_K8S_JOB_*); the chart sets these."""

    model_config = SettingsConfigDict(env_prefix="TWIN_K8S_JOB_", extra="ignore", env_file=local_env_file())

    namespace: str = "default"
    api_url: str = "https://kubernetes.default.svc"
    token_file: Path = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
    ca_file: Path = Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
    image: str = "twin-trainer:latest"
    service_account: str = "twin-trainer-job"
    env_from_config_map: str | None = "twin-config"  # ConfigMap with the TWIN_* addresses, shared with services
    env_from_secret: str | None = "twin-secrets"
    cpu_request: str = "1"
    memory_request: str = "3Gi"
    memory_limit: str = "6Gi"
    gpu: int = 0  # nvidia.com/gpu per Job (then QLoRA with --quantization 4bit on a larger base)
    backoff_limit: int = 1
    ttl_seconds_after_finished: int = 86400
    active_deadline_seconds: int = 6 * 3600
    extra_args: list[str] = Field(default_factory=list)  # appended to `twin train twin ...` (e.g. --max-sft-rows)
    # A complete Job manifest (YAML) to start from instead of the fields above: the chart's ConfigMap
    # <release>-trainer-job, mounted at /etc/twin/trainer/job.yaml (env TWIN_TRAINER_JOB_TEMPLATE). The launcher sets
    # the name, the command and args of the run, its annotations and a trigger label; the rest stays the chart's.
    template: Path | None = Field(
        default=None, validation_alias=AliasChoices("TWIN_TRAINER_JOB_TEMPLATE", "TWIN_K8S_JOB_TEMPLATE")
    )


class TrainerSettings(ServiceSettings):
    service_name: str = "twin-trainer"
    http_port: int = LOCAL_TRAINER_PORT
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    work_dir: Path = Field(default_factory=_work_dir)

    # what the twin runs register and announce
    registered_name: str = "twin-llm"
    experiment: str = "twin-llm"
    models_topic: str = topics.MODELS_REGISTERED
    feedback_topic: str = topics.FEEDBACK

    # continuous training: the consumer's triggers
    indexed_topic: str = topics.DOCUMENTS_INDEXED
    drift_topic: str = topics.DRIFT_ALERTS
    group_id: str = "twin-trainer"
    documents_per_run: int = 20  # new or changed documents of an author that start a run
    schedule_interval_s: float = 0.0  # > 0: every so often, a run for each author with pending changes
    retrain_on_drift: bool = True
    launcher: Literal["in-process", "kubernetes"] = "in-process"
    kubernetes: KubernetesJobSettings = Field(default_factory=KubernetesJobSettings)
    run_args: list[str] = Field(default_factory=list)  # extra `twin train twin` flags for triggered runs
