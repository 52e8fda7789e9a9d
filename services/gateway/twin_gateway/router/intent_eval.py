"""Measure the intent rules on the labelled set: `python -m twin_gateway.router.intent_eval [--split heldout]`.

Prints accuracy and per-intent precision / recall for the chosen split (dev: what the rules were tuned on;
heldout: never looked at while tuning, the figure to report).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from importlib import resources

from twin_gateway.router.intent import Intent, classify


def load(split: str | None = None) -> list[dict]:
    text = resources.files("twin_gateway.router.data").joinpath("intents.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [r for r in rows if split in (None, "all", r["split"])]


def evaluate(rows: list[dict]) -> dict:
    truth_pred = [(r["intent"], classify(r["text"]).value) for r in rows]
    correct = sum(t == p for t, p in truth_pred)
    per_intent = {}
    for intent in Intent:
        tp = sum(t == p == intent for t, p in truth_pred)
        predicted = sum(p == intent for _, p in truth_pred)
        actual = sum(t == intent for t, _ in truth_pred)
        per_intent[intent.value] = {
            "precision": tp / predicted if predicted else None,
            "recall": tp / actual if actual else None,
            "support": actual,
        }
    errors = [(r["text"], t, p) for r, (t, p) in zip(rows, truth_pred, strict=True) if t != p]
    return {
        "n": len(rows),
        "accuracy": correct / len(rows) if rows else None,
        "per_intent": per_intent,
        "confusions": Counter((t, p) for _, t, p in errors),
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", default="heldout", choices=["dev", "heldout", "all"])
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args(argv)
    report = evaluate(load(args.split))
    print(f"split {args.split}: n={report['n']} accuracy={report['accuracy']:.3f}")
    for intent, m in report["per_intent"].items():
        p = "-" if m["precision"] is None else f"{m['precision']:.3f}"
        r = "-" if m["recall"] is None else f"{m['recall']:.3f}"
        print(f"  {intent:<18} precision {p:>6}  recall {r:>6}  support {m['support']}")
    if args.show_errors:
        for text, truth, predicted in report["errors"]:
            print(f"  [{truth} -> {predicted}] {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
