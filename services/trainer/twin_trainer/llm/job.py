"""A twin training run end to end: lock -> snapshot -> dataset -> LoRA SFT -> DPO -> evaluation -> gate ->
registration -> announcement. `build_twin_dataset` is the dataset half alone (`twin train dataset`)."""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from twin_trainer.llm.config import TwinRunConfig
from twin_trainer.llm.dataset import TwinDataset, build_dataset
from twin_trainer.llm.evaluation import ModelScores, evaluate_variant, generate_answers, judge_win_rate, load_variant
from twin_trainer.llm.gate import GateDecision, decide
from twin_trainer.llm.instructions import ChatRoute, LlmInstructionWriter, TemplateInstructionWriter
from twin_trainer.llm.lineage import RunLineage, dump, evaluation_markdown
from twin_trainer.llm.progress import LineProgress, Progress
from twin_trainer.llm.snapshot import CorpusSnapshot, take_snapshot
from twin_trainer.llm.training import (
    PhaseResult,
    base_model_dir,
    cuda_available,
    estimate_for,
    merge_adapter,
    train_dpo,
    train_sft,
)
from twin_trainer.provenance import git_dirty, git_sha
from twin_trainer.runlock import AuthorRunLock
from twin_trainer.settings import TrainerSettings

log = logging.getLogger(__name__)


@dataclass
class TwinRunResult:
    run_id: str
    version: str
    alias: str
    promoted: bool
    reason: str
    scores: list[ModelScores]
    counts: dict[str, int]
    sft: PhaseResult
    dpo: PhaseResult | None
    model_dir: Path
    timings: dict[str, float] = field(default_factory=dict)

    def table(self) -> str:
        return evaluation_markdown(self.scores)


@dataclass
class Routes:
    """Optional chat routes: a stronger instruction writer and an LLM judge."""

    instruction_writer: tuple[str, ChatRoute] | None = None
    judge: tuple[str, ChatRoute] | None = None


@lru_cache(maxsize=1)
def _embedder():
    """MiniLM, loaded once per process (dataset retrieval, the author's centroid, feedback matching)."""
    from twin_search.embedding import LocalEmbedder

    return LocalEmbedder()


def _feedback(settings: TrainerSettings, config: TwinRunConfig) -> list:
    if not config.dataset.include_feedback:
        return []
    from twin_trainer.llm.preferences import read_feedback

    return read_feedback(settings.kafka.bootstrap_servers, settings.feedback_topic)


def build_twin_dataset(
    config: TwinRunConfig,
    settings: TrainerSettings,
    *,
    snapshot: CorpusSnapshot | None = None,
    progress: Progress | None = None,
    routes: Routes = Routes(),
    embedder=None,
) -> TwinDataset:
    progress = progress or LineProgress()
    with progress.stage("snapshot"):
        snapshot = snapshot or take_snapshot(
            settings.postgres.dsn(), config.tenant, config.author, config.contrast_authors
        )
        progress.info(
            f"{len(snapshot.documents)} documents of {snapshot.author_name} at WAL {snapshot.wal_lsn} "
            f"({snapshot.fingerprint[:19]}); contrast: "
            + (", ".join(f"{k} {len(v)}" for k, v in snapshot.contrast.items()) or "none")
        )
    embedder = embedder or _embedder()
    writer = None
    if config.dataset.instruction_writer == "llm":
        if routes.instruction_writer is None:
            raise ValueError("instruction_writer=llm needs a chat route (--writer-url)")
        name, route = routes.instruction_writer
        writer = LlmInstructionWriter(route, name, TemplateInstructionWriter())
    base_dir = base_model_dir(config.base_model)
    loaded: dict = {}

    def base_answers(prompts: list[str]) -> list[str]:
        if "model" not in loaded:
            loaded["model"], loaded["tokenizer"] = load_variant(base_dir, None)
        return generate_answers(
            loaded["model"],
            loaded["tokenizer"],
            prompts,
            config.dataset.rejected_max_new_tokens,
            config.evaluation.repetition_penalty,
        )

    with progress.stage("dataset"):
        dataset = build_dataset(
            snapshot,
            config,
            embedder=embedder,
            writer=writer,
            base_answers=base_answers,
            feedback=_feedback(settings, config),
            progress=progress.info,
        )
        if isinstance(writer, LlmInstructionWriter) and writer.fallbacks:
            progress.info(f"LLM instruction writer: {writer.fallbacks} unusable replies replaced by the template")
        progress.info(f"dataset {dataset.digest[:19]}: {dataset.counts}")
    loaded.clear()
    return dataset


def run_twin(
    config: TwinRunConfig,
    settings: TrainerSettings | None = None,
    *,
    progress: Progress | None = None,
    routes: Routes = Routes(),
    lock_wait_s: float = 0.0,
    work_dir: Path | None = None,
    hold_lock: bool = True,
) -> TwinRunResult:
    """The whole run under the author's lock (`hold_lock=False`: the caller holds it, e.g. the in-process
    launcher); raises LockBusy when another run of the author holds it past `lock_wait_s`."""
    settings = settings or TrainerSettings()
    progress = progress or LineProgress()
    from twin_trainer.llm.snapshot import resolve_author

    dsn = settings.postgres.dsn()
    author_id, author_name = resolve_author(dsn, config.tenant, config.author)
    lock = AuthorRunLock(dsn, config.tenant, author_id)
    if hold_lock:
        lock.acquire(wait_s=lock_wait_s)
    try:
        return _run_locked(config, settings, progress, routes, work_dir, author_name)
    finally:
        lock.release()


def _run_locked(config, settings, progress, routes, work_dir, author_name) -> TwinRunResult:
    import torch

    torch.manual_seed(config.sft.seed)
    timings: dict[str, float] = {}
    run_dir = Path(work_dir or settings.work_dir) / f"{config.tenant}-{_slug(author_name)}-{int(time.time())}"
    run_dir.mkdir(parents=True, exist_ok=True)
    lineage = RunLineage(settings.mlflow.tracking_uri, config)
    run_id = lineage.start(
        f"twin-{_slug(author_name)}",
        {
            "twin.author": author_name,
            "twin.tenant": config.tenant,
            "twin.trigger": config.trigger,
            "git_sha": git_sha(),
            "git_dirty": str(git_dirty()).lower(),
        },
    )
    progress.info(f"MLflow run {run_id} (experiment {config.experiment}); trigger: {config.trigger}")
    status = "FAILED"
    try:
        started = time.perf_counter()
        dataset = build_twin_dataset(config, settings, progress=progress, routes=routes)
        timings["dataset_seconds"] = time.perf_counter() - started
        folder = dataset.write(run_dir / "dataset")
        lineage.log_dataset(dataset, folder)
        if not dataset.sft_rows:
            raise RuntimeError(f"no training rows left after curation: {dataset.counts}")
        base_dir = base_model_dir(config.base_model)
        if cuda_available():
            estimate = estimate_for(
                base_dir, config.lora, config.sft.batch_size, config.sft.max_length, config.quantization
            )
            progress.info(estimate.describe())
            lineage.mlflow.log_metric("gpu_memory_estimate_gib", estimate.total_gib)

        sft_run = lineage.child("sft", run_id, {"rows": len(dataset.sft_rows), "base_model": str(base_dir)})

        def on_log(phase: str, step: int, total: int, metrics: dict[str, float]) -> None:
            lineage.log_step(sft_run if phase == "sft" else dpo_run, step, metrics)
            progress.step(phase, step, total, metrics)

        dpo_run = None
        with progress.stage("sft"):
            sft = train_sft(
                base_dir,
                dataset.sft_records(),
                config.lora,
                config.sft,
                run_dir / "sft",
                quantization=config.quantization,
                on_log=on_log,
            )
            progress.info(f"SFT: {sft.steps} steps in {sft.seconds:.0f} s ({sft.seconds_per_step:.1f} s/step)")
        lineage.finish_child(
            sft_run, {"seconds_per_step": sft.seconds_per_step, "train_seconds": sft.seconds, "steps": float(sft.steps)}
        )
        dpo = None
        candidate_dir, candidate_label = sft.adapter_dir, "sft"
        if config.dpo.enabled and dataset.triples:
            dpo_run = lineage.child("dpo", sft_run, {"triples": len(dataset.triples), "beta": config.dpo.beta})
            with progress.stage("dpo"):
                dpo = train_dpo(
                    base_dir,
                    sft.adapter_dir,
                    dataset.dpo_records(),
                    config.dpo,
                    run_dir / "dpo",
                    quantization=config.quantization,
                    on_log=on_log,
                )
                progress.info(f"DPO: {dpo.steps} steps in {dpo.seconds:.0f} s ({dpo.seconds_per_step:.1f} s/step)")
            lineage.finish_child(
                dpo_run,
                {"seconds_per_step": dpo.seconds_per_step, "train_seconds": dpo.seconds, "steps": float(dpo.steps)},
            )
            candidate_dir, candidate_label = dpo.adapter_dir, "sft+dpo"
        timings["train_seconds"] = sft.seconds + (dpo.seconds if dpo else 0.0)

        started = time.perf_counter()
        with progress.stage("evaluate"):
            scores, answers = _evaluate_all(config, settings, dataset, base_dir, sft, dpo, progress)
        timings["eval_seconds"] = time.perf_counter() - started
        by_label = {s.label: s for s in scores}
        candidate = by_label[candidate_label]
        references = [(s.label, s.metrics) for s in scores if s.label.startswith("champion")]
        references.append(("base", by_label["base"].metrics))
        if routes.judge is not None and config.evaluation.judge:
            reference_label = references[0][0]
            rate = judge_win_rate(routes.judge[1], dataset.eval_set, answers[candidate_label], answers[reference_label])
            candidate.metrics["judge_win_rate"] = rate
            progress.info(f"LLM judge ({routes.judge[0]}): {candidate_label} wins {rate:.0%} against {reference_label}")
        decision = decide(candidate.metrics, references, config.gate)
        progress.info(evaluation_markdown(scores))
        progress.info(f"gate: {decision.reason}")

        model_dir = candidate_dir
        if config.merge_adapter:
            model_dir = merge_adapter(base_dir, candidate_dir, run_dir / "merged")
        info = lineage.register(
            model_dir, _version_tags(config, dataset, decision, candidate_label, run_id, sft_run, dpo_run)
        )
        lineage.set_alias(info.version, decision.alias)
        lineage.log_evaluation(scores, decision.reason)
        lineage.mlflow.set_tags(
            {
                "twin.gate": decision.alias,
                "twin.gate_reason": decision.reason[:4000],
                "twin.registered_version": info.version,
            }
        )
        dump(
            run_dir / "result.json",
            {
                "version": info.version,
                "alias": decision.alias,
                "reason": decision.reason,
                "scores": [s.__dict__ for s in scores],
                "counts": dataset.counts,
                "timings": timings,
            },
        )
        if config.publish:
            from twin_trainer.announce import announce

            announce(
                config.registered_name,
                info.version,
                decision.alias,
                run_id,
                bootstrap_servers=settings.kafka.bootstrap_servers,
                topic=settings.models_topic,
            )
            progress.info(
                f"announced {config.registered_name} v{info.version} @{decision.alias} on {settings.models_topic}"
            )
        status = "FINISHED"
        return TwinRunResult(
            run_id,
            info.version,
            decision.alias,
            decision.promoted,
            decision.reason,
            scores,
            dataset.counts,
            sft,
            dpo,
            model_dir,
            timings,
        )
    finally:
        lineage.end(status)
        for sub in ("sft/checkpoints", "dpo/checkpoints"):
            shutil.rmtree(run_dir / sub, ignore_errors=True)


def _evaluate_all(config, settings, dataset, base_dir, sft, dpo, progress):
    from twin_common.registry import RegistryError, download_version, resolve_alias

    ev = config.evaluation
    embedder = _embedder()
    variants: list[tuple[str, Path | None]] = [("base", None), ("sft", sft.adapter_dir)]
    if dpo is not None:
        variants.append(("sft+dpo", dpo.adapter_dir))
    try:
        champion = resolve_alias(
            config.registered_name, config.gate.champion_alias, tracking_uri=settings.mlflow.tracking_uri
        )
        path = download_version(
            champion, tracking_uri=settings.mlflow.tracking_uri, cache_dir=Path(settings.work_dir) / "registry"
        )
        variants.append((f"champion v{champion.version}", path))
    except RegistryError as exc:
        progress.info(f"no current champion to compare with ({str(exc)[:120]})")
    scores, answers = [], {}
    for label, adapter in variants:
        score, generated = evaluate_variant(
            label,
            base_dir,
            adapter,
            dataset.eval_set,
            embedder,
            ppl_max_length=ev.ppl_max_length,
            max_new_tokens=ev.max_new_tokens,
            repetition_penalty=ev.repetition_penalty,
        )
        progress.info(f"{label}: " + ", ".join(f"{k} {v:.4g}" for k, v in score.metrics.items()))
        scores.append(score)
        answers[label] = generated
    return scores, answers


def _version_tags(config, dataset, decision: GateDecision, label, run_id, sft_run, dpo_run) -> dict[str, str]:
    snapshot = dataset.snapshot
    return {
        "twin.author": snapshot.author_name,
        "twin.author_id": snapshot.author_id,
        "twin.tenant": snapshot.tenant_id,
        "twin.base_model": config.base_model,
        "twin.variant": label,
        "twin.format": "merged" if config.merge_adapter else "lora-adapter",
        "twin.dataset_digest": dataset.digest,
        "twin.snapshot_lsn": snapshot.wal_lsn,
        "twin.snapshot_fingerprint": snapshot.fingerprint,
        "twin.trigger": config.trigger[:250],
        "twin.gate": decision.alias,
        "twin.pipeline_run_id": run_id,
        "twin.sft_run_id": sft_run,
        "twin.dpo_run_id": dpo_run or "",
    }


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")[:40] or "author"


def default_threads() -> None:
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("TWIN_TORCH_THREADS", os.cpu_count() or 1))))
