"""`twin eval retrieval --dataset PATH`: BM25, dense, hybrid (and hybrid + rerank) side by side."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from twin_common.settings import LOCAL_INFERENCE_PORT

from twin_search.retriever import RetrievalSettings


def _reranker(args):
    if args.reranker_dir:
        from twin_search.rerank import CrossEncoderReranker

        return CrossEncoderReranker(args.reranker_dir)
    if args.reranker_alias:
        from twin_common.registry import download_hf_model

        from twin_search.rerank import CrossEncoderReranker

        name, _, alias = args.reranker_alias.partition("@")
        path, info = download_hf_model(name, alias or "champion")
        print(f"reranker: {name} version {info.version} from MLflow", file=sys.stderr)
        return CrossEncoderReranker(path)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="twin eval", description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    retrieval = sub.add_parser("retrieval", help="retrieval quality and latency on a BEIR-format dataset")
    retrieval.add_argument("--dataset", required=True, type=Path)
    retrieval.add_argument("--qrels-split", default=None, help="qrels/<split>.tsv (default: every qrels file)")
    retrieval.add_argument("--reranker-dir", type=Path, help="a cross-encoder directory")
    retrieval.add_argument("--reranker-alias", help="an MLflow model, e.g. twin-rerank@champion")
    retrieval.add_argument("--rrf-k", type=int, default=60)
    retrieval.add_argument("--candidates", type=int, default=200, help="chunks per search before fusion")
    retrieval.add_argument("--rerank-top-n", type=int, default=30)
    retrieval.add_argument("--heldout-fraction", type=float, default=0.3)
    retrieval.add_argument("--max-queries", type=int)
    retrieval.add_argument(
        "--expansions",
        type=int,
        default=0,
        help="also run hybrid with N query variants from the inference service's LLM",
    )
    retrieval.add_argument(
        "--llm-url", default=f"127.0.0.1:{LOCAL_INFERENCE_PORT}", help="inference service (V2 REST) for --expansions"
    )
    retrieval.add_argument("--llm-protocol", choices=("http", "grpc"), default="http")
    retrieval.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("TWIN_CACHE_DIR", Path.home() / ".cache" / "twin")) / "eval",
    )
    retrieval.add_argument("--json", type=Path, help="also write the report as JSON")
    args = parser.parse_args(argv)

    from twin_cli.progress import progress_reporter

    from twin_search.embedding import LocalEmbedder
    from twin_search.eval.beir import load_beir
    from twin_search.eval.harness import evaluate
    from twin_search.eval.metrics import percentile

    try:
        dataset = load_beir(args.dataset, args.qrels_split)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"twin eval: {exc}", file=sys.stderr)
        return 2
    settings = RetrievalSettings(candidates=args.candidates, rrf_k=args.rrf_k, rerank_top_n=args.rerank_top_n)
    expander = None
    if args.expansions > 0:
        from twin_search.rewrite import LlmQueryExpander

        expander = LlmQueryExpander.from_inference(args.llm_url, args.llm_protocol)
    report = evaluate(
        dataset,
        LocalEmbedder(),
        reranker=_reranker(args),
        settings=settings,
        cache_dir=args.cache_dir,
        heldout_fraction=args.heldout_fraction,
        max_queries=args.max_queries,
        expander=expander,
        expansions=args.expansions,
        progress=progress_reporter(),
    )
    print(report.table())
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "dataset": report.dataset,
                    "documents": report.documents,
                    "chunks": report.chunks,
                    "queries": report.queries,
                    "configs": {c.name: c.scores for c in report.configs},
                    "latency_ms": {
                        c.name: {
                            stage: {"p50": percentile(v, 50), "p95": percentile(v, 95)}
                            for stage, v in c.latency_ms.items()
                        }
                        for c in report.configs
                    },
                    "rerank_skipped": report.rerank_skipped,
                    "index_seconds": report.index_seconds,
                    "embedded_from_cache": report.embedded_from_cache,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
