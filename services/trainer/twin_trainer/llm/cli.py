"""`twin train dataset` and `twin train twin`: argument parsing into a TwinRunConfig (defaults: the reference
recipe) and the two commands."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

from twin_trainer.llm.config import TwinRunConfig


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--author", required=True, help="author name or id")
    p.add_argument("--tenant", default="default")
    p.add_argument(
        "--contrast-author",
        action="append",
        default=[],
        metavar="NAME",
        help="an author of the same tenant the style judge contrasts with (repeatable)",
    )
    p.add_argument("--heldout-fraction", type=float)
    p.add_argument("--writer", choices=("template", "llm"), default="template", help="instruction writer")
    p.add_argument(
        "--writer-url",
        help="chat route of the LLM instruction writer (inference REST host:port, "
        "or an OpenAI-compatible base URL starting with http)",
    )
    p.add_argument("--writer-model", default="twin-llm", help="model name for an OpenAI-compatible writer route")
    p.add_argument("--preference-pairs", type=int, help="author-vs-base preference triples")
    p.add_argument("--rejected-max-new-tokens", type=int)
    p.add_argument("--max-sft-rows", type=int, help="a deterministic sample of the curated rows (0: all)")
    p.add_argument("--no-feedback", action="store_true", help="do not read twin.feedback")
    p.add_argument("--near-dup-threshold", type=float)
    p.add_argument("--decontamination-ngram", type=int)
    p.add_argument("--eval-heldout-passages", type=int)
    p.add_argument("--eval-generations", type=int)
    p.add_argument("--eval-max-new-tokens", type=int)
    p.add_argument("--ppl-max-length", type=int)
    p.add_argument("--base-model", help="'smollm2' (bundled) or a model directory")
    p.add_argument("--registered-name")
    p.add_argument("--experiment")


def add_training(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lora-r", type=int)
    p.add_argument("--lora-alpha", type=int)
    p.add_argument("--lora-targets", help="comma-separated module names, or all-linear")
    p.add_argument("--max-length", type=int, help="SFT and DPO max length in tokens")
    p.add_argument("--sft-epochs", type=float)
    p.add_argument("--sft-lr", type=float)
    p.add_argument("--sft-batch-size", type=int)
    p.add_argument("--sft-grad-accumulation", type=int)
    p.add_argument("--sft-max-steps", type=int)
    p.add_argument("--no-dpo", action="store_true")
    p.add_argument("--dpo-beta", type=float)
    p.add_argument("--dpo-lr", type=float)
    p.add_argument("--dpo-epochs", type=float)
    p.add_argument("--dpo-batch-size", type=int)
    p.add_argument("--dpo-grad-accumulation", type=int)
    p.add_argument("--dpo-max-steps", type=int)
    p.add_argument("--quantization", choices=("none", "4bit"))
    p.add_argument("--merge", action="store_true", help="register merged weights instead of the LoRA adapter")
    p.add_argument("--no-publish", action="store_true", help="do not announce on twin.models.registered")
    p.add_argument("--trigger", default="manual", help="why this run started (recorded in the run)")
    p.add_argument(
        "--wait-lock",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another run of the author to finish (default: refuse at once)",
    )
    p.add_argument("--judge-url", help="chat route of an LLM judge (same forms as --writer-url)")
    p.add_argument("--judge-model", default="judge")
    p.add_argument("--work-dir", type=Path)


def _set(obj, **changes):
    changes = {k: v for k, v in changes.items() if v is not None}
    return replace(obj, **changes) if changes else obj


def config_from_args(args: argparse.Namespace) -> TwinRunConfig:
    config = TwinRunConfig(author=args.author, tenant=args.tenant, contrast_authors=tuple(args.contrast_author))
    config = _set(config, base_model=args.base_model, registered_name=args.registered_name, experiment=args.experiment)
    config = replace(
        config,
        dataset=_set(
            config.dataset,
            heldout_fraction=args.heldout_fraction,
            instruction_writer=args.writer,
            preference_pairs=args.preference_pairs,
            rejected_max_new_tokens=args.rejected_max_new_tokens,
            max_sft_rows=args.max_sft_rows,
            include_feedback=False if args.no_feedback else None,
        ),
        curation=_set(
            config.curation,
            near_dup_threshold=args.near_dup_threshold,
            decontamination_ngram=args.decontamination_ngram,
        ),
        evaluation=_set(
            config.evaluation,
            max_heldout_passages=args.eval_heldout_passages,
            generations=args.eval_generations,
            max_new_tokens=args.eval_max_new_tokens,
            ppl_max_length=args.ppl_max_length,
        ),
    )
    if not hasattr(args, "lora_r"):
        return config
    targets = None
    if args.lora_targets:
        targets = "all-linear" if args.lora_targets == "all-linear" else tuple(args.lora_targets.split(","))
    return replace(
        config,
        quantization=args.quantization or config.quantization,
        merge_adapter=args.merge,
        publish=not args.no_publish,
        trigger=args.trigger,
        lora=_set(config.lora, r=args.lora_r, alpha=args.lora_alpha, target_modules=targets),
        sft=_set(
            config.sft,
            epochs=args.sft_epochs,
            learning_rate=args.sft_lr,
            batch_size=args.sft_batch_size,
            grad_accumulation=args.sft_grad_accumulation,
            max_steps=args.sft_max_steps,
            max_length=args.max_length,
        ),
        dpo=_set(
            config.dpo,
            enabled=False if args.no_dpo else None,
            beta=args.dpo_beta,
            learning_rate=args.dpo_lr,
            epochs=args.dpo_epochs,
            batch_size=args.dpo_batch_size,
            grad_accumulation=args.dpo_grad_accumulation,
            max_steps=args.dpo_max_steps,
            max_length=args.max_length,
        ),
    )


def chat_route(url: str, model: str):
    from twin_trainer.llm.instructions import inference_route, openai_route

    if url.startswith(("http://", "https://")):
        return openai_route(url, model)
    return inference_route(url)


def routes_from_args(args: argparse.Namespace):
    from twin_trainer.llm.job import Routes

    writer = (args.writer_url, chat_route(args.writer_url, args.writer_model)) if args.writer_url else None
    judge_url = getattr(args, "judge_url", None)
    judge = (judge_url, chat_route(judge_url, args.judge_model)) if judge_url else None
    return Routes(instruction_writer=writer, judge=judge)


def dataset_main(args: argparse.Namespace) -> int:
    from twin_trainer.llm.job import build_twin_dataset
    from twin_trainer.llm.progress import default_progress
    from twin_trainer.llm.snapshot import SnapshotError
    from twin_trainer.settings import TrainerSettings

    quiet_libraries()
    config = config_from_args(args)
    settings = TrainerSettings()
    try:
        dataset = build_twin_dataset(config, settings, progress=default_progress(), routes=routes_from_args(args))
    except (SnapshotError, ValueError) as exc:
        print(f"twin train dataset: {exc}", file=sys.stderr)
        return 2
    out = args.out or settings.work_dir / "datasets" / f"{config.tenant}-{dataset.snapshot.author_id}"
    dataset.write(out)
    print(json.dumps({"dataset": str(out), "digest": dataset.digest, "counts": dataset.counts}, indent=2))
    return 0


def quiet_libraries() -> None:
    """No per-file progress bars from transformers/datasets: the run reports its own progress."""
    import datasets
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    logging.getLogger("kafka").setLevel(logging.WARNING)


def twin_main(args: argparse.Namespace) -> int:
    from twin_trainer.llm.job import default_threads, run_twin
    from twin_trainer.llm.progress import default_progress
    from twin_trainer.llm.snapshot import SnapshotError
    from twin_trainer.runlock import LockBusy
    from twin_trainer.settings import TrainerSettings

    default_threads()
    quiet_libraries()
    config = config_from_args(args)
    try:
        result = run_twin(
            config,
            TrainerSettings(),
            progress=default_progress(),
            routes=routes_from_args(args),
            lock_wait_s=args.wait_lock,
            work_dir=args.work_dir,
        )
    except (SnapshotError, ValueError) as exc:
        print(f"twin train twin: {exc}", file=sys.stderr)
        return 2
    except LockBusy as exc:
        print(f"twin train twin: {exc}", file=sys.stderr)
        return 3
    print(result.table())
    print(
        f"{config.registered_name} version {result.version} -> @{result.alias} ({result.reason}); "
        f"SFT {result.sft.steps} steps at {result.sft.seconds_per_step:.1f} s/step"
        + (f", DPO {result.dpo.steps} steps at {result.dpo.seconds_per_step:.1f} s/step" if result.dpo else "")
        + f"; MLflow run {result.run_id}"
    )
    return 0
