"""The twin's evaluation gate: champion only past every reference on the primary metric, within tolerance on
the guarded ones; challenger otherwise, with the reason."""

from twin_trainer.llm.config import GateSettings
from twin_trainer.llm.gate import decide

BASE = {"heldout_ppl": 30.0, "style_score": 0.40, "embedding_similarity": 0.50, "groundedness": 0.30}


def test_beating_base_without_losing_elsewhere_promotes():
    candidate = {**BASE, "heldout_ppl": 25.0, "style_score": 0.38}  # style within the 0.05 tolerance
    decision = decide(candidate, [("base", BASE)])
    assert decision.promoted and decision.alias == "champion"
    assert "heldout_ppl 25 vs base 30" in decision.reason


def test_a_worse_perplexity_than_the_champion_keeps_the_candidate_challenger():
    champion = {**BASE, "heldout_ppl": 20.0}
    decision = decide({**BASE, "heldout_ppl": 25.0}, [("champion v3", champion), ("base", BASE)])
    assert not decision.promoted and decision.alias == "challenger"
    assert "heldout_ppl 25 vs champion v3 20" in decision.reason


def test_a_guarded_metric_dropping_beyond_tolerance_blocks_promotion():
    candidate = {**BASE, "heldout_ppl": 10.0, "groundedness": 0.10}
    decision = decide(candidate, [("base", BASE)], GateSettings(tolerance=0.05))
    assert decision.alias == "challenger"
    assert "groundedness 0.100 is 0.200 below base's 0.300" in decision.reason


def test_a_tie_on_the_primary_metric_is_not_a_win():
    assert decide(dict(BASE), [("base", BASE)]).alias == "challenger"


def test_a_candidate_without_the_primary_metric_is_never_promoted():
    assert not decide({"style_score": 1.0}, [("base", BASE)]).promoted
