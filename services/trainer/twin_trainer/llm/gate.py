"""The evaluation gate: the candidate becomes champion only if it beats every reference (the current champion,
and the base model) on the primary metric (held-out perplexity, lower is better) without losing more than a
tolerance on any guarded metric (style score, embedding similarity, groundedness, higher is better). Otherwise it
is registered as challenger, and the decision says why."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from twin_trainer.llm.config import GateSettings

LOWER_IS_BETTER = {"heldout_ppl", "heldout_ppl_raw"}


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    alias: str
    reason: str


def decide(
    candidate: Mapping[str, float],
    references: Sequence[tuple[str, Mapping[str, float]]],
    settings: GateSettings = GateSettings(),
) -> GateDecision:
    """`references`: (label, metrics) of each model the candidate must beat, e.g. [("champion v3", ...), ("base", ...)]."""
    primary = settings.primary
    value = candidate.get(primary)
    if value is None or math.isnan(value):
        return GateDecision(False, settings.challenger_alias, f"the candidate has no {primary}")
    failures: list[str] = []
    passes: list[str] = []
    for label, ref in references:
        ref_value = ref.get(primary)
        if ref_value is None or math.isnan(ref_value):
            continue
        better = value < ref_value if primary in LOWER_IS_BETTER else value > ref_value
        (passes if better else failures).append(f"{primary} {value:.4g} vs {label} {ref_value:.4g}")
        for metric in settings.guarded:
            if metric not in candidate or metric not in ref:
                continue
            drop = ref[metric] - candidate[metric]
            if drop > settings.tolerance:
                failures.append(
                    f"{metric} {candidate[metric]:.3f} is {drop:.3f} below {label}'s {ref[metric]:.3f} "
                    f"(tolerance {settings.tolerance})"
                )
    if failures:
        return GateDecision(False, settings.challenger_alias, "not promoted: " + "; ".join(failures))
    if not passes:
        return GateDecision(True, settings.champion_alias, "promoted: no reference to compare with")
    return GateDecision(
        True,
        settings.champion_alias,
        "promoted: " + "; ".join(passes) + f"; guarded metrics within {settings.tolerance}",
    )
