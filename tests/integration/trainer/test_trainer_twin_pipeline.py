"""The twin pipeline on the real stack, on CPU: the sample corpus of one author in PostgreSQL -> snapshot ->
dataset and curation (with a tenant's feedback from Kafka) -> two LoRA SFT steps and one DPO step -> evaluation ->
registration in the real MLflow with its lineage -> a ModelRegistered event -> the running inference service
swaps to the new version, and answers through a real gateway process (a tenant's API key, REST /v1/ask) carry
its model_version instead of the bundled model's."""

from __future__ import annotations

import contextlib
import functools
import json
import uuid

import httpx
import pytest
from gateway_harness import create_rig, drop_rig, make_key, start_gateway
from trainer_support import (
    LlmServer,
    create_topics,
    delete_registered_model,
    delete_tenant,
    delete_topics,
    ingest_corpus,
    tiny_run_config,
    wait_for_model_version,
)
from twin_common.events import FeedbackGiven
from twin_common.settings import KafkaSettings, MlflowSettings
from twin_trainer.llm.job import run_twin
from twin_trainer.settings import TrainerSettings


@pytest.fixture(autouse=True)
def one_torch_thread():
    """On a shared, loaded CI machine two OpenMP threads spin against each other: one thread trains this tiny run
    2-5x faster in wall time (measured: 2 steps of batch 2 x 128 tokens, 22-47 s vs 103-115 s)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def world(tmp_path):
    suffix = uuid.uuid4().hex[:8]
    tenant, name = f"twin-{suffix}", f"test-twin-llm-{suffix}"
    models_topic, feedback_topic = f"test-twin-models-{suffix}", f"test-twin-feedback-{suffix}"
    with contextlib.ExitStack() as cleanup:  # undone in reverse, also when a later step of the setup fails
        create_topics(models_topic, feedback_topic)
        cleanup.callback(delete_topics, models_topic, feedback_topic)
        cleanup.callback(delete_registered_model, name)
        cleanup.callback(delete_tenant, tenant)
        ingest_corpus(tenant)
        server = LlmServer.start(name, models_topic, tmp_path, tmp_path / "downloads")
        cleanup.callback(server.stop)
        # a gateway alone (no embedder, no ingest) in front of that inference server; it starts while the model loads
        rig = create_rig(tmp_path, connector=False)
        cleanup.callback(drop_rig, rig)
        gateway = start_gateway(rig, inference_url=server.grpc_url, ingest_url=None, embedder=False)
        cleanup.callback(gateway.service.stop)
        gateway_version = functools.partial(gateway_answer_version, gateway.rest_url, make_key(rig, tenant))
        yield tenant, name, models_topic, feedback_topic, server, gateway_version


def gateway_answer_version(rest_url: str, key: str) -> str:
    """The model_version of one short answer through the gateway. `bypass_cache`: the answer cache's scope holds
    the model version that last *filled* the route (twin_semcache's route-version), so a question cached before
    the swap could still be answered from the cache with the old version; every poll here reaches the model."""
    response = httpx.post(
        f"{rest_url}/v1/ask",
        json={
            "question": "Write a short post about small batches.",
            "generation": {"max_tokens": 4, "temperature": 0},
            "bypass_cache": True,
        },
        headers={"Authorization": f"Bearer {key}"},
        timeout=300,
    )
    assert response.status_code == 200, response.text
    return response.json()["model_version"]


def publish_feedback(topic: str, tenant: str) -> None:
    from kafka import KafkaProducer

    events = [
        FeedbackGiven(  # this tenant's correction: a preference triple
            request_id="req-1",
            tenant_id=tenant,
            rating=-1,
            question="How often do you check for queen cells?",
            answer="Never, bees look after themselves.",
            corrected_answer="Every seven days from the first dandelions until midsummer, because swarm season "
            "starts when they open and a missed queen cell means half the colony leaves.",
        ),
        FeedbackGiven(  # another tenant's: never in this twin's data
            request_id="req-2",
            tenant_id="someone-else",
            rating=-1,
            question="q?",
            answer="a",
            corrected_answer="another tenant's private correction that must not leak",
        ),
    ]
    producer = KafkaProducer(bootstrap_servers=KafkaSettings().bootstrap_servers, acks="all")
    try:
        for event in events:
            producer.send(topic, value=event.to_bytes()).get(timeout=30)
    finally:
        producer.close()


@pytest.mark.timeout(1500)  # about 2 minutes of CPU; the wall time depends on the machine's load
def test_sample_corpus_to_a_served_twin(world, tmp_path):
    from mlflow.tracking import MlflowClient

    tenant, name, models_topic, feedback_topic, server, gateway_version = world
    publish_feedback(feedback_topic, tenant)
    server.wait_ready()
    assert server.answer_version() == "builtin"  # the bundled SmolLM2 until a twin is registered
    assert gateway_version() == "builtin"  # and so through the gateway, with the tenant's key

    settings = TrainerSettings(models_topic=models_topic, feedback_topic=feedback_topic, work_dir=tmp_path / "work")
    config = tiny_run_config(tenant, registered_name=name, experiment=f"test-{name}")
    result = run_twin(config, settings)

    # dataset: split, curation steps, triples (author vs base, and the tenant's one correction)
    counts = result.counts
    assert counts["documents_train"] + counts["documents_heldout"] == counts["documents"] == 32
    assert counts["rows_after_rules"] < counts["passages_train"]  # short posts dropped, with a reason
    assert counts["sft_rows"] == counts["rows_after_decontaminate"] > 10
    assert counts["dpo_triples_author_vs_base"] == 2 and counts["dpo_triples_feedback"] == 1
    assert result.sft.steps == 2 and result.dpo is not None and result.dpo.steps == 1

    # the gate: SFT+DPO against the base model on held-out perplexity, and its decision
    by_label = {s.label: s.metrics for s in result.scores}
    assert set(by_label) == {"base", "sft", "sft+dpo"}
    for metrics in by_label.values():
        assert {"heldout_ppl", "style_score", "embedding_similarity", "groundedness"} <= metrics.keys()
    assert by_label["sft+dpo"]["heldout_ppl"] < by_label["base"]["heldout_ppl"], result.table()
    assert result.promoted and result.alias == "champion", result.reason

    # lineage in the real MLflow server
    uri = MlflowSettings().tracking_uri
    client = MlflowClient(uri, uri)
    run = client.get_run(result.run_id)
    assert run.data.params["snapshot.wal_lsn"] and run.data.params["dataset.digest"].startswith("sha256:")
    assert run.data.tags["twin.trigger"] == "manual" and len(run.data.tags["git_sha"]) >= 7
    assert run.data.metrics["dataset.rows_after_near_dedup"] == counts["rows_after_near_dedup"]
    assert {i.dataset.name for i in run.inputs.dataset_inputs} == {"Maren Holt-sft", "Maren Holt-dpo"}
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "dataset")}
    assert {"dataset/sft.jsonl", "dataset/curation_report.json", "dataset/snapshot_manifest.json"} <= artifacts
    sft_run = client.get_run(_child(client, run, "sft"))
    dpo_run = client.get_run(_child(client, sft_run, "dpo"))
    assert sft_run.data.tags["mlflow.parentRunId"] == result.run_id
    assert dpo_run.data.tags["mlflow.parentRunId"] == sft_run.info.run_id
    assert [m.step for m in client.get_metric_history(sft_run.info.run_id, "loss")] == [1, 2]
    assert client.get_metric_history(dpo_run.info.run_id, "rewards_margins")
    table = json.loads(_artifact_text(client, result.run_id, "evaluation/table.json"))
    assert table["data"] and len(table["data"]) == 3

    version = client.get_model_version(name, result.version)
    assert version.tags["twin.dataset_digest"] == run.data.params["dataset.digest"]
    assert version.tags["twin.format"] == "lora-adapter" and version.tags["twin.task"] == "text-generation"
    assert client.get_model_version_by_alias(name, "champion").version == result.version
    from mlflow.models import Model

    signature = Model.load(f"models:/{name}/{result.version}").signature
    assert signature is not None and signature.inputs.input_names() == ["prompt"]

    # the running inference service swaps to it on the ModelRegistered event, and the gateway's answers say so
    wait_for_model_version(server.answer_version, result.version, timeout_s=300)
    wait_for_model_version(gateway_version, result.version, timeout_s=300)


def _child(client, parent, name: str) -> str:
    runs = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}' and run_name = '{name}'"
    )
    assert runs, f"no child run {name} of {parent.info.run_id}"
    return runs[0].info.run_id


def _artifact_text(client, run_id: str, path: str) -> str:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        return Path(client.download_artifacts(run_id, path, tmp)).read_text()
