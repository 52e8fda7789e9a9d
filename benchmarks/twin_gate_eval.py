"""The twin's evaluation gate on a finished training run's folder: base vs SFT vs SFT+DPO, measured in one process.

`twin train twin` evaluates right after training; this re-runs that evaluation on the adapters a run left in its
folder (`<run>/sft/adapter`, `<run>/dpo/adapter`), e.g. when the run was stopped during evaluation, or to compare
evaluation settings. It takes the author's snapshot again, refuses if the corpus changed since the run (snapshot
fingerprint in `<run>/dataset/curation_report.json`), rebuilds the run's evaluation set (same split, same
held-out passages and questions, same style classifier), scores each model with the same code as the run, and
prints the table and the gate's decision (against the base model). Needs the local stack's PostgreSQL.

    TWIN_TORCH_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/twin_gate_eval.py \
        --run-dir ~/.cache/twin/trainer/<tenant>-<author>-<time> --author "Alexander Hamilton" \
        --tenant federalist --contrast-author "James Madison" [--variants sft+dpo,sft,base] [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from twin_trainer.llm.config import EvalSettings, TwinRunConfig
from twin_trainer.llm.dataset import build_eval_set, split_snapshot
from twin_trainer.llm.evaluation import evaluate_variant
from twin_trainer.llm.gate import decide
from twin_trainer.llm.job import _embedder, default_threads
from twin_trainer.llm.lineage import evaluation_markdown
from twin_trainer.llm.passages import passages_of
from twin_trainer.llm.snapshot import take_snapshot
from twin_trainer.llm.training import base_model_dir
from twin_trainer.settings import TrainerSettings


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--author", required=True)
    p.add_argument("--tenant", required=True)
    p.add_argument("--contrast-author", action="append", default=[])
    p.add_argument("--variants", default="sft+dpo,sft,base", help="in this order (the slowest part: generation)")
    p.add_argument("--eval-heldout-passages", type=int, default=EvalSettings.max_heldout_passages)
    p.add_argument("--eval-generations", type=int, default=EvalSettings.generations)
    p.add_argument("--eval-max-new-tokens", type=int, default=EvalSettings.max_new_tokens)
    p.add_argument("--ppl-max-length", type=int, default=EvalSettings.ppl_max_length)
    p.add_argument("--out", type=Path, help="JSON written after each model (partial results survive a stop)")
    args = p.parse_args()
    default_threads()

    report = json.loads((args.run_dir / "dataset" / "curation_report.json").read_text())
    config = TwinRunConfig(author=args.author, tenant=args.tenant, contrast_authors=tuple(args.contrast_author))
    config = replace(
        config,
        evaluation=replace(
            config.evaluation,
            max_heldout_passages=args.eval_heldout_passages,
            generations=args.eval_generations,
            max_new_tokens=args.eval_max_new_tokens,
            ppl_max_length=args.ppl_max_length,
        ),
    )
    settings = TrainerSettings()
    started = time.perf_counter()
    snapshot = take_snapshot(settings.postgres.dsn(), config.tenant, config.author, config.contrast_authors)
    if snapshot.fingerprint != report["snapshot"]["fingerprint"]:
        print(f"the corpus changed since the run: {snapshot.fingerprint} != {report['snapshot']['fingerprint']}")
        return 2
    split, contrast = split_snapshot(snapshot, config)
    embedder = _embedder()
    eval_set = build_eval_set(split, passages_of(split.train), passages_of(split.heldout), contrast, config, embedder)
    print(
        f"evaluation set in {time.perf_counter() - started:.0f} s: {len(eval_set.ppl_items)} held-out passages, "
        f"{len(eval_set.questions)} questions, style classifier accuracy {eval_set.classifier_accuracy}",
        flush=True,
    )
    adapters = {"base": None, "sft": args.run_dir / "sft" / "adapter", "sft+dpo": args.run_dir / "dpo" / "adapter"}
    base_dir = base_model_dir(config.base_model)
    ev = config.evaluation
    scores, seconds = [], {}
    for label in args.variants.split(","):
        started = time.perf_counter()
        score, _ = evaluate_variant(
            label,
            base_dir,
            adapters[label],
            eval_set,
            embedder,
            ppl_max_length=ev.ppl_max_length,
            max_new_tokens=ev.max_new_tokens,
            repetition_penalty=ev.repetition_penalty,
        )
        seconds[label] = time.perf_counter() - started
        scores.append(score)
        print(f"{label} ({seconds[label]:.0f} s): " + ", ".join(f"{k} {v:.4g}" for k, v in score.metrics.items()))
        if args.out:
            args.out.write_text(json.dumps({"scores": [s.__dict__ for s in scores], "seconds": seconds}, indent=1))
    print(evaluation_markdown(scores))
    by_label = {s.label: s.metrics for s in scores}
    candidate = "sft+dpo" if "sft+dpo" in by_label else "sft"
    if candidate in by_label and "base" in by_label:
        decision = decide(by_label[candidate], [("base", by_label["base"])], config.gate)
        print(f"gate ({candidate} vs base): {decision.alias}: {decision.reason}")
        if args.out:
            data = json.loads(args.out.read_text())
            data["gate"] = {"candidate": candidate, "alias": decision.alias, "reason": decision.reason}
            args.out.write_text(json.dumps(data, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
