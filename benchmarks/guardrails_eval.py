"""Guardrails on the labelled sets: per class precision/recall, benign false refusals, masking recall, the
retrieval rail on planted and clean chunks, and the threshold sweeps the settings were chosen from.

    .venv/bin/python benchmarks/guardrails_eval.py                 # tune and heldout splits, and both together
    .venv/bin/python benchmarks/guardrails_eval.py --split tune --sweep

The sets (libs/guardrails/twin_guardrails/evalsets) were written before any rail existed; thresholds and rules were
adjusted on the tune split only; the heldout figures are the ones to quote. fresh.jsonl was written after the rules
existed, by their author, with phrasings they do not contain; round 2 of the rules was tuned on it, so fresh2.jsonl
was written after round 2 and is the untouched figure for phrasings the rules' author did not anticipate.
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

    from twin_guardrails.evaluation import component_sweep, format_report, load, predict, report
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
            grid = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
            rows = load("prompts.jsonl", split)
            for kind in ("injection", "toxicity"):
                print("\n".join(component_sweep(rails, rows, kind, grid)))
        print()
    if args.split == "each":
        for name, what in (
            ("fresh.jsonl", "fresh set 1: written after round 1 of the rules, round 2 was tuned on it (seen)"),
            ("fresh2.jsonl", "fresh set 2: written after round 2 of the rules, never tuned on"),
        ):
            predictions = predict(rails, load(name))
            print(format_report(f"input rails, {what} ({len(predictions)} prompts)", report(predictions)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
