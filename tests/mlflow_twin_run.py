"""A twin version in the real MLflow registry laid out as the trainer's `twin train twin` leaves it (pipeline run
with dataset metrics, the curation report and the evaluation table; `sft` and `dpo` child runs with a loss per
step; a registered version tagged twin.* with an alias) - without the hours of training, for the pages that show it."""

from __future__ import annotations

import math


def register_twin_version(tracking_uri: str, tenant: str, name: str, author: str = "Ada") -> dict:
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri, tracking_uri)
    experiment = mlflow.set_experiment(f"twin-llm-{tenant}").experiment_id
    with mlflow.start_run(
        run_name=f"twin-{author.lower()}", tags={"twin.tenant": tenant, "twin.author": author}
    ) as run:
        run_id = run.info.run_id
        mlflow.log_metrics({"dataset.documents": 40, "dataset.sft_rows": 96, "dataset.dpo_triples_author_vs_base": 30})
        mlflow.log_dict(
            {
                "counts": {"documents": 40, "passages_train": 150, "sft_rows": 96},
                "curation": [
                    {"step": "rules", "rows_in": 150, "rows_out": 131, "dropped_by_reason": {"too_short": 19}},
                    {"step": "exact_dedup", "rows_in": 131, "rows_out": 120, "dropped_by_reason": {"duplicate": 11}},
                    {
                        "step": "near_dedup",
                        "rows_in": 120,
                        "rows_out": 104,
                        "dropped_by_reason": {"near_duplicate": 16},
                    },
                    {"step": "decontaminate", "rows_in": 104, "rows_out": 96, "dropped_by_reason": {"eval_overlap": 8}},
                ],
            },
            "dataset/curation_report.json",
        )
        mlflow.log_table(
            {
                "model": ["base", "sft", "sft+dpo"],
                "heldout_ppl": [31.2, 18.4, 17.9],
                "style_score": [0.41, 0.63, 0.68],
                "groundedness": [0.52, 0.66, 0.71],
            },
            artifact_file="evaluation/table.json",
        )
        mlflow.set_tag("twin.gate_reason", "sft+dpo beats base on held-out perplexity and style: champion")
    runs = {}
    for part, parent, start in (("sft", run_id, 2.6), ("dpo", None, 0.69)):
        child = client.create_run(experiment, run_name=part, tags={"mlflow.parentRunId": parent or runs["sft"]})
        child_id = child.info.run_id
        metrics = [
            Metric("loss", start * math.exp(-step / 6) + 0.05 * (step % 3), 1_700_000_000_000 + step, step)
            for step in range(1, 13)
        ]
        client.log_batch(child_id, metrics=metrics)
        client.set_terminated(child_id, "FINISHED")
        runs[part] = child_id
    try:
        client.create_registered_model(name)
    except mlflow.exceptions.MlflowException:
        pass  # registered by an earlier run
    version = client.create_model_version(
        name,
        source=f"runs:/{run_id}/model",
        run_id=run_id,
        tags={
            "twin.tenant": tenant,
            "twin.author": author,
            "twin.variant": "sft+dpo",
            "twin.gate": "champion",
            "twin.pipeline_run_id": run_id,
            "twin.sft_run_id": runs["sft"],
            "twin.dpo_run_id": runs["dpo"],
        },
    )
    client.set_registered_model_alias(name, "champion", version.version)
    return {"name": name, "version": str(version.version), "run_id": run_id, **runs}
