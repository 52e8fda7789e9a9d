"""Evaluation of the rails on the labelled sets in `evalsets/` (written before any tuning; 40% held out by a hash of
each id): per class precision and recall, the false-refusal rate on benign prompts, value-level masking recall,
and threshold sweeps for the two classifiers.

    prompts.jsonl  id, cls (pii.email, secret.api_token, injection.direct, jailbreak.roleplay, toxic, benign.risky...),
                   expect (mask | block | pass), split (tune | heldout), text, values (what must be masked)
    chunks.jsonl   retrieved chunks: chunk.poisoned (expect drop) and chunk.clean (expect pass)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from twin_guardrails.input_rails import InputRails, InputVerdict

GROUPS = {  # class prefix -> the rail that should act on it
    "pii": "input.pii",
    "secret": "input.secrets",
    "injection": "input.injection",
    "jailbreak": "input.injection",
    "toxic": "input.toxicity",
}


def evalset_path(name: str) -> Path:
    return Path(__file__).parent / "evalsets" / name


def load(name: str, split: str | None = None) -> list[dict]:
    rows = [json.loads(line) for line in evalset_path(name).read_text().splitlines() if line.strip()]
    return [r for r in rows if split in (None, "all", r["split"])]


@dataclass
class Prediction:
    row: dict
    verdict: InputVerdict
    injection_score: float = 0.0
    toxicity_score: float = 0.0

    @property
    def blocked(self) -> bool:
        return self.verdict.blocked

    def acted(self, rail: str) -> bool:
        return any(o.rail == rail and o.decision in ("block", "mask", "flag") for o in self.verdict.outcomes)

    @property
    def values_masked(self) -> tuple[int, int]:
        values = self.row.get("values", [])
        return sum(v not in self.verdict.text for v in values), len(values)


@dataclass
class ClassReport:
    name: str
    n: int
    recall: float  # fraction of the class the expected action reached
    precision: float | None  # among prompts the class's rail acted on, the fraction of this class
    extra: dict = field(default_factory=dict)


def predict(rails: InputRails, rows: list[dict], tenant: str = "eval") -> list[Prediction]:
    predictions = []
    for row in rows:
        verdict = rails.check(row["text"], tenant)
        scores = {o.rail: o.score or 0.0 for o in verdict.outcomes}
        predictions.append(
            Prediction(row, verdict, scores.get("input.injection", 0.0), scores.get("input.toxicity", 0.0))
        )
    return predictions


def _group(cls: str) -> str:
    return cls.split(".")[0]


def report(predictions: list[Prediction]) -> dict:
    """Per group (pii, secret, injection+jailbreak, toxic) and per class, plus benign false refusals."""
    out: dict = {"groups": [], "classes": [], "benign": {}}
    groups = {
        "pii": ["pii"],
        "secrets": ["secret"],
        "injection+jailbreak": ["injection", "jailbreak"],
        "toxic": ["toxic"],
    }
    for name, prefixes in groups.items():
        rail = GROUPS[prefixes[0]]
        members = [p for p in predictions if _group(p.row["cls"]) in prefixes]
        acted = [p for p in predictions if p.acted(rail)]
        expect_block = members and members[0].row["expect"] == "block"
        hit = [p for p in members if (p.blocked if expect_block else p.acted(rail))]
        precision = sum(_group(p.row["cls"]) in prefixes for p in acted) / len(acted) if acted else None
        extra = {}
        if not expect_block:
            masked = [p.values_masked for p in members]
            extra["values_masked"] = f"{sum(m for m, _ in masked)}/{sum(n for _, n in masked)}"
            extra["blocked"] = sum(p.blocked for p in members)
        out["groups"].append(
            ClassReport(name, len(members), len(hit) / len(members) if members else 0.0, precision, extra)
        )
    for cls in sorted({p.row["cls"] for p in predictions}):
        members = [p for p in predictions if p.row["cls"] == cls]
        expect = members[0].row["expect"]
        if expect == "block":
            ok = [p for p in members if p.blocked]
        elif expect == "mask":
            ok = [p for p in members if p.values_masked[0] == p.values_masked[1] and not p.blocked]
        else:
            ok = [p for p in members if not p.blocked]
        out["classes"].append(ClassReport(cls, len(members), len(ok) / len(members), None))
    benign = [p for p in predictions if _group(p.row["cls"]) == "benign"]
    refused = [p for p in benign if p.blocked]
    masked = [p for p in benign if p.verdict.reverse_map]
    out["benign"] = {
        "n": len(benign),
        "false_refusals": len(refused),
        "false_refusal_rate": len(refused) / len(benign) if benign else 0.0,
        "refused_ids": [p.row["id"] for p in refused],
        "masked_ids": [p.row["id"] for p in masked],
    }
    out["misses"] = [
        p.row["id"]
        for p in predictions
        if (p.row["expect"] == "block" and not p.blocked)
        or (p.row["expect"] == "mask" and (p.values_masked[0] < p.values_masked[1] or p.blocked))
    ]
    return out


def sweep(predictions: list[Prediction], kind: str, thresholds: list[float]) -> list[tuple[float, float, float]]:
    """For the injection or toxicity score: (threshold, recall on the class, false-refusal rate on benign) with every
    other rail as it is. A prompt counts as caught if that rail's score reaches the threshold or another rail blocks
    it; a benign prompt counts as refused likewise."""
    prefixes = ("injection", "jailbreak") if kind == "injection" else ("toxic",)
    rail = "input.injection" if kind == "injection" else "input.toxicity"
    rows = []
    for threshold in thresholds:

        def caught(p: Prediction, threshold: float = threshold) -> bool:
            score = p.injection_score if kind == "injection" else p.toxicity_score
            other = any(o.decision == "block" and o.rail != rail for o in p.verdict.outcomes)
            return score >= threshold or other

        members = [p for p in predictions if _group(p.row["cls"]) in prefixes]
        benign = [p for p in predictions if _group(p.row["cls"]) == "benign"]
        recall = sum(caught(p) for p in members) / len(members)
        refusals = sum(caught(p) for p in benign) / len(benign)
        rows.append((threshold, recall, refusals))
    return rows


def format_report(title: str, result: dict) -> str:
    lines = [f"== {title}", f"{'group':<22}{'n':>5}{'recall':>9}{'precision':>11}  extra"]
    for r in result["groups"]:
        precision = "-" if r.precision is None else f"{r.precision:.3f}"
        lines.append(f"{r.name:<22}{r.n:>5}{r.recall:>9.3f}{precision:>11}  {r.extra or ''}")
    lines.append(f"{'class':<28}{'n':>5}{'correct':>9}")
    for r in result["classes"]:
        lines.append(f"{r.name:<28}{r.n:>5}{r.recall:>9.3f}")
    b = result["benign"]
    lines.append(
        f"benign false refusals: {b['false_refusals']}/{b['n']} = {b['false_refusal_rate']:.3f}"
        f"  refused: {b['refused_ids']}  masked something: {b['masked_ids']}"
    )
    lines.append(f"misses: {result['misses']}")
    return "\n".join(lines)


def component_sweep(rails: InputRails, rows: list[dict], kind: str, thresholds: list[float]) -> list[str]:
    """What the classifier and the rules each contribute: recall on the class and refusals on benign prompts for
    the rules alone, the classifier alone at each threshold, and both (the rail as configured)."""
    prefixes = ("injection", "jailbreak") if kind == "injection" else ("toxic",)
    detector = rails.injection if kind == "injection" else rails.toxicity
    members = [r for r in rows if _group(r["cls"]) in prefixes]
    benign = [r for r in rows if _group(r["cls"]) == "benign"]
    scored_members = detector.score_many([r["text"] for r in members])
    scored_benign = detector.score_many([r["text"] for r in benign])
    lines = [f"-- {kind}: {len(members)} prompts of the class, {len(benign)} benign"]

    def rate(scores, hit) -> str:
        return f"{sum(map(hit, scores))}/{len(scores)}"

    lines.append(
        f"   rules alone: recall {rate(scored_members, lambda s: s.rule is not None)},"
        f" benign refused {rate(scored_benign, lambda s: s.rule is not None)}"
    )
    top = max((s.classifier for s in scored_benign), default=0.0)
    lines.append(f"   classifier on benign prompts: max {top:.3f}")
    for t in thresholds:
        lines.append(
            f"   classifier alone >= {t:.2f}: recall {rate(scored_members, lambda s, t=t: s.classifier >= t)},"
            f" benign refused {rate(scored_benign, lambda s, t=t: s.classifier >= t)};"
            f" with the rules: recall {rate(scored_members, lambda s, t=t: s.rule is not None or s.classifier >= t)},"
            f" benign refused {rate(scored_benign, lambda s, t=t: s.rule is not None or s.classifier >= t)}"
        )
    return lines
