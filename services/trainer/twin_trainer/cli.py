"""`twin train reranker|dataset|twin`: the trainer's jobs.

- `reranker --dataset PATH`: fine-tune a cross-encoder, evaluate on heldout queries, register in MLflow;
- `dataset --author NAME [--tenant T]`: the twin's dataset (snapshot, split, curation, preference triples);
- `twin --author NAME [--tenant T]`: the whole twin run (dataset, LoRA SFT, DPO, evaluation gate, registry).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def _cache() -> Path:
    return Path(os.environ.get("TWIN_CACHE_DIR", Path.home() / ".cache" / "twin"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twin train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="job", required=True)
    rr = sub.add_parser("reranker", help="cross-encoder reranker from a BEIR-format dataset (fit split only)")
    cache = _cache()
    rr.add_argument("--dataset", required=True, type=Path)
    rr.add_argument("--out", type=Path, default=cache / "models" / "twin-rerank")
    rr.add_argument("--name", default="twin-rerank", help="registered model name")
    rr.add_argument("--epochs", type=int, default=1)
    rr.add_argument("--batch-size", type=int, default=18, help="pairs per step")
    rr.add_argument("--learning-rate", type=float, default=3e-5)
    rr.add_argument("--loss", choices=("listwise", "pointwise"), default="listwise")
    rr.add_argument("--max-length", type=int, default=256)
    rr.add_argument("--max-steps", type=int)
    rr.add_argument("--negatives", type=int, default=8)
    rr.add_argument("--max-fit-queries", type=int)
    rr.add_argument("--no-publish", action="store_true", help="do not announce the new champion on Kafka")

    from twin_trainer.llm import cli as llm_cli

    ds = sub.add_parser("dataset", help="the twin's dataset from an author's corpus (snapshot, curation, triples)")
    llm_cli.add_common(ds)
    ds.add_argument("--out", type=Path, help="folder for the dataset files (default under ~/.cache/twin/trainer)")
    tw = sub.add_parser("twin", help="train an author's twin: dataset, LoRA SFT, DPO, evaluation gate, registry")
    llm_cli.add_common(tw)
    llm_cli.add_training(tw)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from twin_trainer.llm import cli as llm_cli

    if args.job == "dataset":
        return llm_cli.dataset_main(args)
    if args.job == "twin":
        return llm_cli.twin_main(args)

    from twin_search.eval.beir import load_beir

    from twin_trainer.reranker.job import RerankerJobSettings, run
    from twin_trainer.reranker.train import TrainSettings

    try:
        dataset = load_beir(args.dataset)
    except FileNotFoundError as exc:
        print(f"twin train: {exc}", file=sys.stderr)
        return 2
    result = run(
        dataset,
        args.out,
        RerankerJobSettings(registered_name=args.name, negatives_per_query=args.negatives, publish=not args.no_publish),
        TrainSettings(
            epochs=args.epochs,
            batch_size=args.batch_size,
            max_length=args.max_length,
            max_steps=args.max_steps,
            learning_rate=args.learning_rate,
            loss=args.loss,
        ),
        cache_dir=_cache() / "eval",
        max_fit_queries=args.max_fit_queries,
        dataset_path=args.dataset.resolve(),
    )
    print(
        f"{args.name} version {result.version}: heldout nDCG@10 hybrid {result.metrics['heldout_ndcg10_hybrid']:.4f}"
        f" -> reranked {result.metrics['heldout_ndcg10_reranked']:.4f}; promoted to champion: {result.promoted};"
        f" {result.metrics['train_pairs']:.0f} pairs, {result.metrics['train_seconds']:.0f} s training; model in {result.model_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
