"""Curation of the twin's dataset: planted exact duplicates, near-duplicates and evaluation items are dropped,
each with its reason, and nothing else is."""

from __future__ import annotations

import random

import pytest
from twin_trainer.llm.config import CurationSettings
from twin_trainer.llm.curation import Decontaminate, ExactDedup, NearDedup, Row, RuleFilter, curate

WORDS = (
    "log commit slot replica consumer offset batch tenant hash chunk index vector broker partition topic snapshot "
    "ledger schema writer reader backlog latency cluster quorum leader follower segment retention cleaner queue hive "
    "queen brood frame forager nectar pollen comb smoker veil swarm colony winter spring summer autumn garden clover"
).split()


def essay(seed: int, n: int = 80) -> str:
    rng = random.Random(seed)
    sentences = []
    for _ in range(n // 10):
        sentences.append(" ".join(rng.choice(WORDS) for _ in range(10)).capitalize() + ".")
    return " ".join(sentences)


@pytest.fixture
def originals() -> list[Row]:
    return [Row(f"r{i}", f"doc{i}", essay(i)) for i in range(30)]


def test_exact_duplicates_after_normalisation_are_dropped_and_the_first_copy_kept(originals):
    planted = [
        Row("dup-case", "docX", originals[3].text.upper()),
        Row("dup-space", "docY", "  " + originals[7].text.replace(" ", "   \n") + "  "),
        Row("dup-punct", "docZ", originals[11].text.replace(".", "!")),
    ]
    kept, drops = ExactDedup().apply([*originals, *planted])
    assert [r.row_id for r in kept] == [r.row_id for r in originals]
    assert {d.row_id: d.reason for d in drops} == {p.row_id: "exact_duplicate" for p in planted}
    assert {d.row_id: d.detail for d in drops}["dup-case"] == "same text as r3"


def test_near_duplicates_are_dropped_distinct_rows_kept(originals):
    def edit(text: str, every: int) -> str:
        tokens = text.split()
        return " ".join("EDITED" if i % every == 0 else t for i, t in enumerate(tokens))

    near = [Row("near-1", "d", edit(originals[5].text, 40)), Row("near-2", "d", originals[9].text + " One more line.")]
    # a row sharing only a third of its text with an original is not a near-duplicate
    partial = Row("partial", "d", " ".join(originals[2].text.split()[:27]) + " " + essay(999, 60))
    kept, drops = NearDedup(threshold=0.8, num_perm=128).apply([*originals, *near, partial])
    assert {d.row_id for d in drops} == {"near-1", "near-2"}
    assert all(d.reason == "near_duplicate" for d in drops)
    assert "partial" in {r.row_id for r in kept}
    assert len(kept) == len(originals) + 1


def test_near_dedup_threshold_is_configurable(originals):
    def drop_words(text: str, every: int) -> str:
        return " ".join(t for i, t in enumerate(text.split()) if i % every)

    looser = Row("looser", "d", drop_words(originals[4].text, 30))  # a word in 30 gone: 5-gram Jaccard ~0.7
    strict = NearDedup(threshold=0.95).apply([*originals, looser])[1]
    loose = NearDedup(threshold=0.5).apply([*originals, looser])[1]
    assert strict == [] and [d.row_id for d in loose] == ["looser"]


def test_rows_overlapping_any_evaluation_set_are_dropped_with_the_set_named(originals):
    heldout_passage = essay(500)
    question = "Write a short post about the quiet winter hive and its queen."
    sets = {"heldout_passages": [heldout_passage], "heldout_questions": [question], "benchmark": [essay(600)]}
    planted = [
        Row("quotes-heldout", "d", essay(1) + " " + " ".join(heldout_passage.split()[20:30])),
        Row("asks-the-question", "d", essay(2), prompt=question),
        Row("quotes-benchmark", "d", " ".join(essay(600).split()[:9]) + " " + essay(3)),
    ]
    kept, drops = Decontaminate(sets, n=8).apply([*originals, *planted])
    assert {d.row_id: d.reason for d in drops} == {
        "quotes-heldout": "contaminated:heldout_passages",
        "asks-the-question": "contaminated:heldout_questions",
        "quotes-benchmark": "contaminated:benchmark",
    }
    assert [r.row_id for r in kept] == [r.row_id for r in originals]


def test_template_words_shared_with_a_question_do_not_count_as_contamination():
    question = 'Write a few paragraphs on old row and old key, as you would in an essay titled "Replica identity".'
    row = Row(
        "r", "d", essay(7), prompt='Write a few paragraphs on cache key, as you would in an essay titled "Tenants".'
    )
    assert Decontaminate({"heldout_questions": [question]}, n=8).apply([row])[0] == [row]


def test_rule_filters_say_why(originals):
    settings = CurationSettings(min_words=20, max_words=500)
    planted = [
        Row("short", "d", "Too short to teach anything."),
        Row("long", "d", essay(1, 600)),
        Row("code", "d", "x = {a: [b(c) for c in d]}; if (y && z) { return f(x) + g(y) * h[z]; } " * 5),
        Row("banner", "d", "Share this post\nSubscribe to the newsletter\nAccept all cookies\n" + essay(2, 30)),
        Row("german", "d", "Die Bienen fliegen im Frühling früh aus und sammeln Nektar von den Blüten der Bäume. " * 3),
        Row("repo", "d", "def f(x):\n    return {k: v for k, v in x.items()}  # " + essay(3, 20), kind="repository"),
    ]
    result = curate(
        [*originals, *planted], [RuleFilter(settings, language_of=lambda t: "de" if "Bienen" in t else "en")]
    )
    reasons = {d.row_id: d.reason for d in result.drops}
    assert reasons == {
        "short": "too_short",
        "long": "too_long",
        "code": "code_in_prose",
        "banner": "boilerplate",
        "german": "language",
    }
    assert "repo" in {r.row_id for r in result.rows}  # code is allowed in repository documents
    report = result.reports[0].as_dict()
    assert report["rows_in"] == len(originals) + len(planted) and report["dropped"] == 5


def test_curate_reports_counts_per_step(originals):
    rows = [*originals, Row("dup", "d", originals[0].text)]
    result = curate(rows, [ExactDedup(), NearDedup(), Decontaminate({"heldout_passages": [originals[1].text]})])
    assert result.counts() == {"input": 31, "exact_dedup": 30, "near_dedup": 30, "decontaminate": 29}
    assert [r.dropped_by_reason for r in result.reports] == [
        {"exact_duplicate": 1},
        {},
        {"contaminated:heldout_passages": 1},
    ]
