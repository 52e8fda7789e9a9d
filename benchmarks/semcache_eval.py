"""The semantic cache on the labelled paraphrase set: the threshold sweep (with and without the look-alike guard)
on each split, then the chosen setting through the real cache in Redis (hit rate, false hits, lookup latency of an
exact hit, a semantic hit and a miss measured in the same run).

    export TWIN_LOCAL_PORT_OFFSET=...; make up   # Redis with search
    .venv/bin/python benchmarks/semcache_eval.py
    .venv/bin/python benchmarks/semcache_eval.py --split tune --no-redis

Thresholds were chosen on the tune split; quote the heldout split.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _pct(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=["tune", "heldout", "all", "each"], default="each")
    parser.add_argument("--no-redis", action="store_true", help="only the in-memory sweep")
    args = parser.parse_args(argv)

    import torch
    from twin_search.embedding import LocalEmbedder
    from twin_semcache.cache import AnswerCache, minilm_embed
    from twin_semcache.evaluation import load, sweep, through_redis
    from twin_semcache.settings import CacheSettings

    torch.set_num_threads(1)
    embedder = LocalEmbedder()
    settings = CacheSettings()
    grid = [0.80, 0.82, 0.84, 0.85, 0.86, 0.87, 0.88, 0.90, 0.92, 0.94]
    splits = ["tune", "heldout", "all"] if args.split == "each" else [args.split]
    for split in splits:
        rows = load(split)
        print(f"== threshold sweep, {split} split ({len(rows)} queries)")
        for score in sweep(rows, embedder.embed, grid, settings.candidates):
            marker = (
                "  <- chosen"
                if score.guard == settings.lookalike_guard
                and abs(score.threshold - settings.similarity_threshold) < 1e-9
                else ""
            )
            print("   " + score.line() + marker)
    if args.no_redis:
        return 0
    cache = AnswerCache(
        settings.model_copy(update={"namespace": f"twin:cache-eval:{uuid.uuid4().hex[:8]}"}),
        embed=minilm_embed(embedder),
    )
    try:
        for split in splits:
            score, latencies = through_redis(load(split), cache)
            print(f"== through Redis, {split} split: {score.line()}")
            for kind in ("exact", "semantic", "none"):
                values = latencies[kind]
                print(
                    f"   lookup {kind:<8} n={len(values):>3}  p50 {_pct(values, 50):6.2f} ms  p95 {_pct(values, 95):6.2f} ms"
                )
    finally:
        cache.semantic.delete()
    return 0


if __name__ == "__main__":
    sys.exit(main())
