import pytest
from twin_trainer.reranker.pairs import build_pairs

QUERIES = {"q1": "what is cdc", "q2": "what is rrf", "q3": "heldout question"}
QRELS = {"q1": {"d1": 1}, "q2": {"d2": 1, "d3": 1}, "q3": {"d4": 1}}


def miner_from(ranking):
    return lambda query: [(doc, f"text of {doc}") for doc in ranking]


def test_positives_come_from_qrels_and_negatives_from_both_miners_interleaved():
    pairs = build_pairs(
        QUERIES,
        QRELS,
        ["q1", "q2"],
        ["q3"],
        lambda d: f"positive {d}",
        [miner_from(["d1", "d5", "d6"]), miner_from(["d7", "d1", "d8"])],
        negatives_per_query=3,
    )
    q1 = {(p.doc_id, p.label) for p in pairs if p.query_id == "q1"}
    assert q1 == {("d1", 1.0), ("d5", 0.0), ("d7", 0.0), ("d6", 0.0)}
    q2 = [p for p in pairs if p.query_id == "q2"]
    assert sorted(p.doc_id for p in q2 if p.label == 1.0) == ["d2", "d3"]


def test_a_judged_relevant_document_is_never_a_negative():
    pairs = build_pairs(QUERIES, QRELS, ["q2"], [], lambda d: d, [miner_from(["d2", "d3", "d9"])], 5)
    assert {p.doc_id for p in pairs if p.label == 0.0} == {"d9"}


def test_heldout_queries_never_reach_the_training_data():
    pairs = build_pairs(QUERIES, QRELS, ["q1", "q2"], ["q3"], lambda d: d, [miner_from(["d4", "d9"])], 2)
    assert {p.query_id for p in pairs} == {"q1", "q2"}
    with pytest.raises(ValueError, match="both fit and heldout"):
        build_pairs(QUERIES, QRELS, ["q1", "q3"], ["q3"], lambda d: d, [], 2)


def test_pairs_are_deterministic_for_a_seed():
    args = (QUERIES, QRELS, ["q1", "q2"], ["q3"], lambda d: d, [miner_from(["d5", "d6", "d7"])], 2)
    assert build_pairs(*args, seed=1) == build_pairs(*args, seed=1)
