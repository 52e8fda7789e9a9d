"""Guardrails on the labelled sets: per class precision/recall, benign false refusals, masking recall, the
retrieval rail on planted and clean chunks, and the threshold sweeps the settings were chosen from.

    .venv/bin/python benchmarks/guardrails_eval.py                 # tune and heldout splits, and both together
    .venv/bin/python benchmarks/guardrails_eval.py --split tune --sweep

The sets (libs/guardrails/twin_guardrails/evalsets) were written before any rail existed; thresholds and rules were
adjusted on the tune split only; the heldout figures are the ones to quote.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=["tune", "heldout", "all", "each"], default="each")
    parser.add_argument("--sweep", action="store_true", help="print the injection and toxicity threshold sweeps")
    args = parser.parse_args(argv)

    from twin_guardrails.evaluation import format_report, load, predict, report, sweep
    from twin_guardrails.input_rails import InputRails
    from twin_guardrails.retrieval_rail import RetrievalRail, format_chunk_report

    rails = InputRails()
    retrieval = RetrievalRail(rails.settings, injection=rails.injection)
    splits = ["tune", "heldout", "all"] if args.split == "each" else [args.split]
    for split in splits:
        predictions = predict(rails, load("prompts.jsonl", split))
        print(format_report(f"input rails, {split} split ({len(predictions)} prompts)", report(predictions)))
        print(format_chunk_report(f"retrieval rail, {split} split", retrieval, load("chunks.jsonl", split)))
        if args.sweep:
            grid = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99]
            for kind in ("injection", "toxicity"):
                print(f"-- {kind} threshold sweep ({split}): threshold, recall, benign refusal rate")
                for threshold, recall, refusals in sweep(predictions, kind, grid):
                    print(f"   {threshold:.2f}  {recall:.3f}  {refusals:.3f}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
