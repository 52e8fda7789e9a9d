"""A trigger starts a real training run: `python -m twin_trainer` (in-process launcher) on the real stack gets N
DocumentIndexed events of one author from Kafka, runs `twin train twin` on the sample corpus from PostgreSQL with a
tiny budget (one LoRA SFT step, no DPO, two held-out passages), registers the version in the real MLflow with the
trigger's reason, and reports the trigger as succeeded over HTTP. (The pipeline's full path, DPO and the
inference swap included, is test_trainer_twin_pipeline.py; the trigger rules are test_trainer_triggers.py.)"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from stack_support import wait_for
from trainer_support import (
    TrainerService,
    author_id_of,
    delete_registered_model,
    delete_tenant,
    document_ids,
    ingest_corpus,
)
from twin_common.settings import MlflowSettings

N = 2
TINY_RUN = [
    "--no-feedback",
    "--no-dpo",
    "--no-publish",
    "--max-sft-rows", "4",
    "--sft-max-steps", "1",
    "--sft-batch-size", "1",
    "--sft-grad-accumulation", "1",
    "--max-length", "64",
    "--lora-r", "2",
    "--lora-alpha", "4",
    "--lora-targets", "q_proj,v_proj",
    "--eval-heldout-passages", "2",
    "--eval-generations", "1",
    "--eval-max-new-tokens", "4",
    "--ppl-max-length", "64",
]  # fmt: skip


@pytest.fixture
def world(tmp_path):
    suffix = uuid.uuid4().hex[:8]
    tenant, name = f"trun-{suffix}", f"test-twin-trigger-{suffix}"
    ingest_corpus(tenant)
    service = TrainerService.start(
        suffix,
        tmp_path,
        TWIN_DOCUMENTS_PER_RUN=str(N),
        TWIN_LAUNCHER="in-process",
        TWIN_TORCH_THREADS="1",  # a loaded CI machine: one OpenMP thread is faster in wall time
        TWIN_WORK_DIR=str(tmp_path / "work"),
        TWIN_RUN_ARGS=json.dumps([*TINY_RUN, "--registered-name", name, "--experiment", f"test-{name}"]),
    )
    yield tenant, name, service
    service.stop()
    delete_tenant(tenant)
    delete_registered_model(name)


@pytest.mark.timeout(900)  # about a minute of CPU; the wall time depends on the machine's load
def test_n_new_documents_start_a_run_that_registers_a_version(world):
    from mlflow.tracking import MlflowClient

    tenant, name, svc = world
    svc.wait_ready()
    author = author_id_of(tenant)
    svc.publish_indexed(tenant, document_ids(tenant, N))

    def trigger(outcomes: set[str]):
        rows = httpx.get(f"{svc.url}/v1/triggers", params={"tenant": tenant}).json()["triggers"]
        return rows and rows[0]["outcome"] in outcomes and rows[0]

    started = wait_for(
        lambda: trigger({"started", "succeeded", "failed"}), 120, "a trigger", tolerate=(httpx.HTTPError,)
    )
    assert (started["kind"], started["author_id"]) == ("documents", author)
    assert f"{N} new or changed documents" in started["reason"]
    done = wait_for(lambda: trigger({"succeeded", "failed"}), 840, "the run's end", tolerate=(httpx.HTTPError,))
    assert done["outcome"] == "succeeded", f"{done['detail']}\n{svc.tail()}"
    assert done["detail"].startswith("version 1 -> @"), done["detail"]

    uri = MlflowSettings().tracking_uri
    client = MlflowClient(uri, uri)
    version = client.get_model_version(name, "1")
    assert version.tags["twin.tenant"] == tenant and version.tags["twin.author_id"] == author
    assert version.tags["twin.trigger"].startswith(f"documents: {N} new or changed documents")
    run = client.get_run(version.tags["twin.pipeline_run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["twin.trigger"] == version.tags["twin.trigger"]
    assert run.data.params["sft.max_steps"] == "1"  # TWIN_RUN_ARGS reached the run
    stats = httpx.get(f"{svc.url}/v1/stats").json()
    assert stats["indexed"] == N
