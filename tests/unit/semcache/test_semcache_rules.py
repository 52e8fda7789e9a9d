"""The cache's rules without Redis: scopes, normalisation, the look-alike guard, what is never cached."""

from twin_common.events import GuardrailOutcome
from twin_semcache.cache import CachedAnswer, select_candidate
from twin_semcache.keys import Scope, exact_digest, normalise_question
from twin_semcache.lookalike import mismatch
from twin_semcache.policy import Skip, fill_skip, lookup_skip


def test_scope_ids_separate_tenants_models_templates_and_filters():
    base = Scope("acme", "twin", "v3", "tpl-2", {"author_ids": ["a", "b"]})
    same = Scope("acme", "twin", "v3", "tpl-2", {"author_ids": ["b", "a"]})
    assert base.scope_id == same.scope_id  # filter order does not matter
    for other in (
        Scope("globex", "twin", "v3", "tpl-2", {"author_ids": ["a", "b"]}),
        Scope("acme", "twin", "v4", "tpl-2", {"author_ids": ["a", "b"]}),
        Scope("acme", "twin", "v3", "tpl-3", {"author_ids": ["a", "b"]}),
        Scope("acme", "twin", "v3", "tpl-2", {"author_ids": ["a"]}),
        Scope("acme", "other", "v3", "tpl-2", {"author_ids": ["a", "b"]}),
    ):
        assert other.scope_id != base.scope_id
        assert exact_digest(other, "q") != exact_digest(base, "q")


def test_normalised_question_ignores_case_spacing_and_final_punctuation():
    assert normalise_question("  What is  CDC?? ") == normalise_question("what is cdc") == "what is cdc"
    assert exact_digest(Scope("t", "r", "v", "p"), "What is CDC?") == exact_digest(
        Scope("t", "r", "v", "p"), "what is cdc"
    )


def test_lookalike_guard_names_what_differs():
    assert mismatch("What did Maren post in March 2023?", "What did Maren post in March 2024?") == "numbers"
    assert mismatch("Posts from March?", "Posts from April?") == "calendar"
    assert mismatch("Which posts mention Kafka?", "Which posts don't mention Kafka?") == "negation"
    assert mismatch("What are the pros of batching?", "What are the cons of batching?") == "opposite"
    assert mismatch("What does Hamilton say about taxes?", "What does Madison say about taxes?") == "names"
    assert mismatch("What does linger.ms do?", "What does batch.size do?") == "identifiers"
    assert mismatch("Which essay is Federalist No. 10?", "Which essay is Federalist 11?") == "numbers"
    assert mismatch("What does Maren say about deletes?", "What is Maren's view on deletes?") is None
    assert mismatch("Who wrote Federalist No. 51?", "Who is the author of Federalist 51?") is None


def test_candidate_selection_skips_refused_lookalikes_for_the_next_nearest():
    near = CachedAnswer("a", "t", "Which posts are tagged cdc?")
    far = CachedAnswer("b", "t", "Which posts are not tagged cdc?")
    chosen, refused = select_candidate("Which posts aren't tagged cdc?", [(0.97, near), (0.9, far)])
    assert chosen[1] is far and refused == "negation"
    chosen, refused = select_candidate("Which posts aren't tagged cdc?", [(0.97, near)])
    assert chosen is None and refused == "negation"


def _fill(**overrides):
    args = dict(
        use_cache=True,
        personal=False,
        question="What does Maren say about batching?",
        answer="Small ones [1].",
        status="ok",
        guardrails=[],
        retrieval_expected=True,
        citation_numbers=[1, 2],
    )
    return fill_skip(**{**args, **overrides})


def test_what_is_never_cached():
    assert _fill() is None
    assert _fill(use_cache=False) is Skip.DISABLED
    assert _fill(personal=True) is Skip.PERSONAL
    assert _fill(question="What did Maren post today?") is Skip.TIME_SENSITIVE
    assert _fill(status="blocked") is Skip.BLOCKED
    assert _fill(status="retracted") is Skip.RETRACTED
    assert _fill(guardrails=[GuardrailOutcome(rail="output.citations", decision="flag")]) is Skip.FLAGGED
    assert _fill(answer="Small ones.") is Skip.UNCITED
    assert _fill(answer="Small ones [5].") is Skip.UNCITED  # cites nothing of the context
    assert _fill(answer="Hello!", retrieval_expected=False) is None  # small talk needs no citation
    assert _fill(history_turns=2) is Skip.CONVERSATION
    assert _fill(fallbacks=1) is Skip.FALLBACK
    assert lookup_skip(use_cache=True, personal=False, question="What is the latest post?") is Skip.TIME_SENSITIVE
