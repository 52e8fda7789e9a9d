"""MLflow lineage of a twin run.

One pipeline run (experiment `twin-llm` by default) holds the lineage: every setting, the trigger, the corpus
snapshot (WAL position, fingerprint, manifest), the dataset (digest, rows after each curation step, the files, and
MLflow dataset inputs), the git sha, the evaluation table and the gate's decision; the model is logged there with a
signature and registered. Two child runs hold the per-step training metrics: `sft` (child of the pipeline run) and
`dpo` (child of `sft`: the parent link says what DPO started from).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from twin_common.registry import ModelVersionInfo, log_hf_model

from twin_trainer.llm.config import TwinRunConfig
from twin_trainer.llm.dataset import TwinDataset
from twin_trainer.llm.evaluation import ModelScores

PARENT_TAG = "mlflow.parentRunId"


def llm_signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", "prompt")]),
        outputs=Schema([ColSpec("string")]),
        params=ParamSchema([ParamSpec("max_new_tokens", "long", 32)]),
    )


class RunLineage:
    def __init__(self, tracking_uri: str, config: TwinRunConfig):
        import mlflow
        from mlflow.tracking import MlflowClient

        self.mlflow = mlflow
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        self.client = MlflowClient(tracking_uri, tracking_uri)
        self.experiment_id = mlflow.set_experiment(config.experiment).experiment_id
        self.config = config
        self.run = None

    # --- runs -------------------------------------------------------------------------------------

    def start(self, run_name: str, tags: dict[str, str]) -> str:
        self.run = self.mlflow.start_run(run_name=run_name, tags=tags)
        self.mlflow.log_params(self.config.as_params())
        return self.run.info.run_id

    @property
    def run_id(self) -> str:
        return self.run.info.run_id

    def child(self, name: str, parent_run_id: str, params: dict[str, Any]) -> str:
        run = self.client.create_run(self.experiment_id, run_name=name, tags={PARENT_TAG: parent_run_id})
        for key, value in params.items():
            self.client.log_param(run.info.run_id, key, value)
        return run.info.run_id

    def log_step(self, run_id: str, step: int, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(run_id, metrics=[Metric(k.replace("/", "_"), v, now, step) for k, v in metrics.items()])

    def finish_child(self, run_id: str, metrics: dict[str, float], status: str = "FINISHED") -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        if metrics:
            self.client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])
        self.client.set_terminated(run_id, status)

    def end(self, status: str = "FINISHED") -> None:
        if self.run is not None:
            self.mlflow.end_run(status)
            self.run = None

    # --- what the pipeline run records ----------------------------------------------------------------

    def log_dataset(self, dataset: TwinDataset, folder: Path) -> None:
        import pandas as pd

        snapshot = dataset.snapshot
        self.mlflow.log_params(
            {
                "snapshot.wal_lsn": snapshot.wal_lsn,
                "snapshot.txid_snapshot": snapshot.txid_snapshot[:250],
                "snapshot.taken_at": snapshot.taken_at.isoformat(),
                "snapshot.fingerprint": snapshot.fingerprint,
                "dataset.digest": dataset.digest,
                "dataset.instruction_writer": dataset.instruction_writer,
                "author_id": snapshot.author_id,
            }
        )
        self.mlflow.log_metrics({f"dataset.{k}": float(v) for k, v in dataset.counts.items()})
        self.mlflow.log_artifacts(str(folder), "dataset")
        digest = dataset.digest.removeprefix("sha256:")[:16]
        for context, frame in (
            ("sft", pd.DataFrame([{"prompt": r.prompt, "completion": r.completion} for r in dataset.sft_rows])),
            (
                "dpo",
                pd.DataFrame(
                    [
                        {"prompt": t.prompt, "chosen": t.chosen, "rejected": t.rejected, "source": t.source}
                        for t in dataset.triples
                    ]
                ),
            ),
        ):
            if len(frame):
                data = self.mlflow.data.from_pandas(frame, name=f"{snapshot.author_name}-{context}", digest=digest)
                self.mlflow.log_input(data, context=context)

    def log_evaluation(self, scores: list[ModelScores], decision_reason: str) -> None:
        metrics = sorted({k for s in scores for k in s.metrics})
        table: dict[str, list] = {"model": [s.label for s in scores]}
        for metric in metrics:
            table[metric] = [s.metrics.get(metric) for s in scores]
        self.mlflow.log_table(table, artifact_file="evaluation/table.json")
        self.mlflow.log_dict({s.label: s.samples for s in scores}, "evaluation/samples.json")
        self.mlflow.log_text(evaluation_markdown(scores) + f"\n\nGate: {decision_reason}\n", "evaluation/table.md")
        self.mlflow.log_metrics(
            {f"eval.{_key(s.label)}.{m}": v for s in scores for m, v in s.metrics.items() if v is not None}
        )

    def register(self, model_dir: Path, tags: dict[str, str]) -> ModelVersionInfo:
        return log_hf_model(
            model_dir,
            self.config.registered_name,
            alias=None,
            tags=tags,
            signature=llm_signature(),
            task="text-generation",
        )

    def set_alias(self, version: str, alias: str) -> None:
        self.client.set_registered_model_alias(self.config.registered_name, alias, version)


def _key(label: str) -> str:
    return label.replace(" ", "_").replace("+", "_").lower()


def evaluation_markdown(scores: list[ModelScores]) -> str:
    columns = [
        ("heldout_ppl", "held-out ppl (chat)"),
        ("heldout_ppl_raw", "held-out ppl (raw)"),
        ("style_score", "style score"),
        ("style_classifier_p_author", "P(author) classifier"),
        ("style_profile_similarity", "style profile sim."),
        ("embedding_similarity", "embedding sim."),
        ("groundedness", "groundedness"),
        ("judge_win_rate", "judge win rate"),
        ("answer_words", "answer words"),
    ]
    present = [(k, t) for k, t in columns if any(k in s.metrics for s in scores)]
    lines = ["| model | " + " | ".join(t for _, t in present) + " |", "|---" * (len(present) + 1) + "|"]
    for s in scores:
        cells = [f"{s.metrics[k]:.4g}" if k in s.metrics and s.metrics[k] is not None else "–" for k, _ in present]
        lines.append(f"| {s.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def dump(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value, indent=2, default=str))
    return path
