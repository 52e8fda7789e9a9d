"""What may be cached: the reasons an answer is never stored, decided in one place.

Never cached:
- requests the caller marked (`use_cache` false), turns of a conversation (the answer depends on the earlier
  turns), answers from a fallback model, and personal requests: the input rails masked PII or a secret in them
  (the cache key never holds an unmasked value, and the masked answer means nothing to another caller);
- time-sensitive questions ("today", "latest", "this week", ...): the answer is about a moment;
- answers a rail blocked, retracted or flagged, failed or empty answers;
- answers with no citation when retrieval was expected (a grounded question answered without its sources).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from enum import StrEnum

from twin_common.events import GuardrailOutcome

TIME_SENSITIVE = re.compile(
    r"\b(?:today|tonight|tomorrow|yesterday|now|right now|currently|at the moment|latest|most recent|recently|"
    r"so far|up to date|this (?:week|month|year|morning|afternoon|evening|quarter)|"
    r"last (?:night|week|month|year|quarter)|next (?:week|month|year)|news|breaking)\b",
    re.IGNORECASE,
)
CITATION = re.compile(r"\[(\d{1,3})\]")


class Skip(StrEnum):
    DISABLED = "disabled"
    CONVERSATION = "conversation"
    FALLBACK = "fallback"
    PERSONAL = "personal"
    TIME_SENSITIVE = "time_sensitive"
    BLOCKED = "blocked"
    RETRACTED = "retracted"
    FLAGGED = "flagged"
    FAILED = "failed"
    EMPTY = "empty"
    UNCITED = "uncited"


def time_sensitive(question: str) -> bool:
    return TIME_SENSITIVE.search(question) is not None


def lookup_skip(*, use_cache: bool, personal: bool, question: str, history_turns: int = 0) -> Skip | None:
    """Why this request must not even look in the cache (its answer could not have been stored), or None."""
    if not use_cache:
        return Skip.DISABLED
    if history_turns:
        return Skip.CONVERSATION  # the answer depends on the earlier turns, which the key does not hold
    if personal:
        return Skip.PERSONAL
    if time_sensitive(question):
        return Skip.TIME_SENSITIVE
    return None


def cited_numbers(answer: str) -> set[int]:
    return {int(n) for n in CITATION.findall(answer)}


def fill_skip(
    *,
    use_cache: bool,
    personal: bool,
    question: str,
    answer: str,
    status: str,
    guardrails: Iterable[GuardrailOutcome],
    retrieval_expected: bool,
    citation_numbers: Sequence[int],
    history_turns: int = 0,
    fallbacks: int = 0,
) -> Skip | None:
    """Why this answer must not be stored, or None when it may be."""
    skip = lookup_skip(use_cache=use_cache, personal=personal, question=question, history_turns=history_turns)
    if skip is not None:
        return skip
    if fallbacks:
        return Skip.FALLBACK  # a fallback model answered: the entry would be scoped to a version nobody looks up
    if status == "blocked":
        return Skip.BLOCKED
    if status == "retracted":
        return Skip.RETRACTED
    if status != "ok":
        return Skip.FAILED
    outcomes = list(guardrails)
    if any(o.decision in ("block", "retract") for o in outcomes):
        return Skip.RETRACTED
    if any(o.rail.startswith("output.") and o.decision != "pass" for o in outcomes):
        return Skip.FLAGGED
    if not answer.strip():
        return Skip.EMPTY
    if retrieval_expected and not (cited_numbers(answer) & set(citation_numbers)):
        return Skip.UNCITED
    return None
