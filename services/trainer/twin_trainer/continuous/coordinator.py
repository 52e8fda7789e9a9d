"""When to train: N new or changed documents of an author, a drift alert, or the schedule. Each trigger is recorded
with its reason and what came of it; a trigger while a run of the author is in progress starts nothing (documents
stay pending and are looked at again when the run finishes; a drift or schedule trigger is recorded as skipped)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from twin_common.events import ChangeOp, DocumentIndexed, DriftAlert

from twin_trainer.continuous.launcher import Launcher, RunRequest
from twin_trainer.continuous.store import TriggerStore

log = logging.getLogger(__name__)

DriftTargets = Callable[[DriftAlert], list[tuple[str, str]]]  # alert -> [(tenant, author id)]


class TrainingCoordinator:
    def __init__(
        self,
        store: TriggerStore,
        launcher: Launcher,
        *,
        documents_per_run: int,
        drift_targets: DriftTargets | None = None,
        retrain_on_drift: bool = True,
    ):
        self.store = store
        self.launcher = launcher
        self.documents_per_run = documents_per_run
        self.drift_targets = drift_targets
        self.retrain_on_drift = retrain_on_drift
        self._decide = threading.Lock()  # one trigger decision at a time in this process

    # --- sources ------------------------------------------------------------------------------------

    def on_document_indexed(self, event: DocumentIndexed) -> str | None:
        """Count the change for its author; a run when the author has `documents_per_run` pending."""
        author_id = getattr(event, "author_id", None) or self.store.author_of(event.tenant_id, event.document_id)
        if author_id is None:
            if event.op != ChangeOp.DELETE:
                log.info("document %s of %s is gone from the source; not counted", event.document_id, event.tenant_id)
            return None
        pending = self.store.record_change(
            event.tenant_id, author_id, event.document_id, event.content_hash, str(event.op), event.event_id
        )
        if pending < self.documents_per_run:
            return None
        return self.trigger(
            event.tenant_id,
            author_id,
            "documents",
            f"{pending} new or changed documents (threshold {self.documents_per_run})",
            f"indexed:{event.event_id}",
        )

    def on_drift_alert(self, alert: DriftAlert) -> list[str]:
        if not self.retrain_on_drift or self.drift_targets is None:
            return []
        reason = f"drift alert {alert.metric} {alert.score:.3g} > {alert.threshold:.3g} on window {alert.window_id}" + (
            f" ({alert.model} v{alert.model_version})" if alert.model else ""
        )
        return [
            self.trigger(tenant, author, "drift", reason, f"drift:{alert.alert_id}:{author}")
            for tenant, author in self.drift_targets(alert)
        ]

    def on_schedule(self) -> list[str]:
        return [
            self.trigger(tenant, author, "schedule", f"scheduled run; {n} documents changed since the last run", None)
            for tenant, author, n in self.store.authors_with_pending()
        ]

    # --- decision -----------------------------------------------------------------------------------

    def trigger(self, tenant_id: str, author_id: str, kind: str, reason: str, source_id: str | None) -> str:
        """Record the trigger, try to launch; returns the outcome ('started', 'deferred', 'skipped', 'replayed')."""
        with self._decide:
            trigger_id = self.store.record_trigger(tenant_id, author_id, kind, reason, source_id)
            if trigger_id is None:
                return "replayed"
            covered_until = self.store.now()
            outcome = self.launcher.launch(RunRequest(tenant_id, author_id, kind, reason, trigger_id))
            if outcome.started:
                self.store.clear_pending(tenant_id, author_id, covered_until)
                self.store.set_outcome(trigger_id, "started", outcome.detail)
                log.info("training run for %s/%s started: %s (%s)", tenant_id, author_id, reason, outcome.detail)
                return "started"
            result = "deferred" if kind == "documents" else "skipped"
            detail = outcome.detail + (
                "; the changes stay pending and are looked at again when it finishes" if result == "deferred" else ""
            )
            self.store.set_outcome(trigger_id, result, detail)
            log.info("training run for %s/%s %s: %s", tenant_id, author_id, result, detail)
            return result

    def on_run_finished(self, request: RunRequest, succeeded: bool, detail: str) -> None:
        """Record the run's end on its trigger; start the next run if enough changes arrived meanwhile."""
        if request.trigger_id is not None:
            self.store.set_outcome(request.trigger_id, "succeeded" if succeeded else "failed", detail)
        pending = self.store.pending_count(request.tenant_id, request.author_id)
        if pending >= self.documents_per_run:
            self.trigger(
                request.tenant_id,
                request.author_id,
                "documents",
                f"{pending} documents changed during the previous run (threshold {self.documents_per_run})",
                None,
            )


def registry_drift_targets(tracking_uri: str, registered_name: str) -> DriftTargets:
    """Which authors' twins a drift alert concerns: the author of the alert's model version when the alert names
    one of `registered_name`, else every author with a registered twin in the alert's tenant."""

    def targets(alert: DriftAlert) -> list[tuple[str, str]]:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri, tracking_uri)
        if alert.model in (None, registered_name) and alert.model_version:
            try:
                version = client.get_model_version(registered_name, alert.model_version)
                tags = version.tags or {}
                if tags.get("twin.tenant") == alert.tenant_id and tags.get("twin.author_id"):
                    return [(alert.tenant_id, tags["twin.author_id"])]
            except Exception:  # noqa: BLE001 - an unknown version falls back to the tenant's twins
                pass
        authors = set()
        for version in client.search_model_versions(f"name = '{registered_name}'"):
            tags = version.tags or {}
            if tags.get("twin.tenant") == alert.tenant_id and tags.get("twin.author_id"):
                authors.add(tags["twin.author_id"])
        return [(alert.tenant_id, a) for a in sorted(authors)]

    return targets
