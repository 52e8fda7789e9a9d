"""Entry point of the trainer service: `twin-trainer` or `python -m twin_trainer`.

Continuous training: consumes `twin.documents.indexed` and `twin.drift.alerts`, runs a schedule, and starts a
twin run for an author (in this process, or as a Kubernetes Job: TWIN_LAUNCHER) when a trigger fires; serves
/healthz, /readyz and /v1/triggers (what fired, why, and what came of it).
"""

from __future__ import annotations

import asyncio

from twin_common.health import HealthRegistry
from twin_common.service import bootstrap, build_http_app

from twin_trainer.continuous.consumer import TrainerConsumer
from twin_trainer.continuous.coordinator import TrainingCoordinator, registry_drift_targets
from twin_trainer.continuous.launcher import InProcessLauncher, KubernetesJobLauncher, RunRequest
from twin_trainer.continuous.store import TriggerStore
from twin_trainer.settings import TrainerSettings


def twin_run_function(settings: TrainerSettings):
    """A triggered run in this process: `twin train twin` with TWIN_RUN_ARGS, the lock held by the launcher."""

    def run(request: RunRequest):
        from twin_trainer.cli import build_parser
        from twin_trainer.llm.cli import config_from_args
        from twin_trainer.llm.job import default_threads, run_twin

        default_threads()  # TWIN_TORCH_THREADS, else every CPU
        argv = ["twin", *request.twin_args(settings.run_args)]
        config = config_from_args(build_parser().parse_args(argv))
        return run_twin(config, settings, hold_lock=False)

    return run


def build(settings: TrainerSettings) -> tuple[TrainerConsumer, TriggerStore]:
    store = TriggerStore(settings.postgres.dsn())
    store.ensure_schema()
    coordinator = TrainingCoordinator(
        store,
        launcher=None,  # set below: the in-process launcher reports back to the coordinator
        documents_per_run=settings.documents_per_run,
        drift_targets=registry_drift_targets(settings.mlflow.tracking_uri, settings.registered_name),
        retrain_on_drift=settings.retrain_on_drift,
    )
    if settings.launcher == "kubernetes":
        coordinator.launcher = KubernetesJobLauncher(settings.kubernetes, settings.postgres.dsn())
    else:
        coordinator.launcher = InProcessLauncher(
            settings.postgres.dsn(), twin_run_function(settings), on_finished=coordinator.on_run_finished
        )
    return TrainerConsumer(settings, coordinator), store


def build_app(settings: TrainerSettings, consumer: TrainerConsumer, store: TriggerStore):
    health = HealthRegistry()
    health.add("kafka", lambda: consumer.broker.running)
    app = build_http_app(settings, health)

    @app.get("/v1/stats")
    def stats() -> dict:
        return consumer.stats.__dict__

    @app.get("/v1/triggers")
    def triggers(tenant: str | None = None, author: str | None = None, limit: int = 50) -> dict:
        rows = store.triggers(tenant, author, max(1, min(limit, 500)))
        return {"triggers": [{**r.__dict__, "created_at": r.created_at.isoformat()} for r in rows]}

    return app


async def run(settings: TrainerSettings) -> None:
    import uvicorn

    consumer, store = build(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(settings, consumer, store), host=settings.http_host, port=settings.http_port, log_config=None
        )
    )
    await consumer.start()
    try:
        await server.serve()  # returns on SIGTERM / SIGINT
    finally:
        await consumer.stop()


def main() -> None:
    """No arguments: the service. `twin-trainer train twin|dataset|reranker ...`: one job, as `twin train ...` (the
    image's entry point is this script, so a training Job runs with the same command)."""
    import sys

    if len(sys.argv) > 1:
        if sys.argv[1] != "train":
            sys.exit(f"usage: twin-trainer [train twin|dataset|reranker ...] (got {sys.argv[1]!r})")
        from twin_trainer.cli import main as train_main

        sys.exit(train_main(sys.argv[2:]))
    settings = TrainerSettings()
    bootstrap(settings)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
