"""Measure the intent classifier: `python -m twin_gateway.router.intent_eval [--show-errors]`.

Fits on the dev split (as the gateway does at start) and prints accuracy and per-intent precision / recall on
heldout and on the fresh set (neither used to fit or choose anything), plus dev cross-validation for reference.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from twin_gateway.router.intent import C, Intent, IntentClassifier, labelled


def evaluate(classifier: IntentClassifier, embed, rows: list[dict]) -> dict:
    predicted = classifier.classify_many(embed([r["text"] for r in rows]))
    truth_pred = [(r["intent"], p.value) for r, p in zip(rows, predicted, strict=True)]
    per_intent = {}
    for intent in Intent:
        tp = sum(t == p == intent for t, p in truth_pred)
        n_pred = sum(p == intent for _, p in truth_pred)
        n_true = sum(t == intent for t, _ in truth_pred)
        per_intent[intent.value] = {
            "precision": tp / n_pred if n_pred else None,
            "recall": tp / n_true if n_true else None,
            "support": n_true,
        }
    return {
        "n": len(rows),
        "accuracy": sum(t == p for t, p in truth_pred) / len(rows),
        "per_intent": per_intent,
        "errors": [(r["text"], t, p) for r, (t, p) in zip(rows, truth_pred, strict=True) if t != p],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from twin_search.embedding import LocalEmbedder

    embedder = LocalEmbedder()
    dev = labelled("dev")
    vectors = embedder.embed([r["text"] for r in dev])
    cv = cross_val_score(LogisticRegression(C=C, max_iter=2000), vectors, [r["intent"] for r in dev], cv=5)
    print(f"dev (fit): n={len(dev)} 5-fold cross-validation accuracy {np.mean(cv):.3f}")
    classifier = IntentClassifier.train(embedder.embed, dev)
    for name, rows in (("heldout", labelled("heldout")), ("fresh", labelled(None, "intents_fresh.jsonl"))):
        report = evaluate(classifier, embedder.embed, rows)
        print(f"{name}: n={report['n']} accuracy {report['accuracy']:.3f}")
        for intent, m in report["per_intent"].items():
            p = "-" if m["precision"] is None else f"{m['precision']:.3f}"
            r = "-" if m["recall"] is None else f"{m['recall']:.3f}"
            print(f"  {intent:<18} precision {p:>6}  recall {r:>6}  support {m['support']}")
        if args.show_errors:
            for text, truth, predicted in report["errors"]:
                print(f"    [{truth} -> {predicted}] {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
