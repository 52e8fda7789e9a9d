"""Retrieval quality and latency on SciFact (or any BEIR folder), baselines measured in the same run.

    .venv/bin/python benchmarks/retrieval_scifact.py [--dataset ../shared/data/scifact] [--reranker-alias twin-rerank@champion]

BM25 alone and dense alone are the baselines; hybrid (and hybrid + rerank when a reranker is given) are
printed next to them from one index build, on the heldout queries and on all queries, with per-stage latency
p50/p95. The first run embeds the corpus (minutes on 2 cores) and caches the vectors under ~/.cache/twin/eval.
Extra arguments are passed to `twin eval retrieval` unchanged.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_DATASET = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact"


def main(argv: list[str]) -> int:
    from twin_search.eval.cli import main as eval_main

    if "--dataset" not in argv:
        argv = ["--dataset", str(DEFAULT_DATASET), *argv]
    return eval_main(["retrieval", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
