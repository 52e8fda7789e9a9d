"""The look-alike guard: two questions can be close in embedding space and still ask different things.

MiniLM places "What did Maren post in March 2024?" and "... in April 2024?" at cosine 0.99, and a question and its
negation at 0.97: above most true paraphrases, so no threshold separates them. Before a semantic hit is served, the
two questions' signatures must agree on what an embedding blurs:
- numbers (years, dates, essay numbers, percentiles) and calendar words (months, seasons, quarters, "last week");
- negation (an odd number of not/no/never/n't/without... in one and an even number in the other);
- opposites (for/against, advantages/disadvantages, before/after, support/oppose...): one word in one question and
  its opposite in the other;
- names (capitalised words after the first, possessives stripped) and identifiers (`linger.ms`, `batch_size`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'’._-]*[A-Za-z0-9]|[A-Za-z]|\d+(?:[.:/-]\d+)*")
_NUMBER = re.compile(r"\d+")
_ESSAY_NUMBER = re.compile(r"\bNo\.\s*(?=\d)")
NEGATIONS = frozenset({"not", "no", "never", "without", "none", "nobody", "nothing", "neither", "nor", "cannot"})
CALENDAR = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec spring summer autumn fall winter q1 q2 q3 q4 "
    "today yesterday tomorrow tonight week month year decade weekend morning evening latest recent current now".split()
)
OPPOSITES = {
    "for": "against",
    "advantages": "disadvantages",
    "advantage": "disadvantage",
    "pros": "cons",
    "before": "after",
    "support": "oppose",
    "supported": "opposed",
    "increase": "decrease",
    "enable": "disable",
    "add": "remove",
    "allow": "deny",
    "accept": "reject",
    "include": "exclude",
    "above": "below",
    "more": "less",
    "best": "worst",
    "first": "last",
    "true": "false",
    "success": "failure",
    "with": "without",
    "earlier": "later",
    "oldest": "newest",
    "older": "newer",
    "minimum": "maximum",
    "min": "max",
    "start": "end",
    "open": "close",
}
OPPOSITES.update({b: a for a, b in list(OPPOSITES.items())})
# capitalised words that are not names
_NOT_NAMES = frozenset(
    "i what which who whom whose when where why how is are was were do does did can could should would will "
    "the a an in on of for to and or explain summarise summarize write give tell list compose draft no".split()
)


@dataclass(frozen=True)
class Signature:
    numbers: frozenset[str]
    calendar: frozenset[str]
    negated: bool
    words: frozenset[str]
    names: frozenset[str]
    identifiers: frozenset[str]


def signature(question: str) -> Signature:
    question = _ESSAY_NUMBER.sub("", question.replace("’", "'"))  # "No. 10": a number, not a negation
    tokens = _WORD.findall(question)
    lowered = [t.lower() for t in tokens]
    negations = sum(t in NEGATIONS or t.endswith("n't") for t in lowered)
    names = set()
    for index, token in enumerate(tokens):
        base = re.sub(r"'s$", "", token)
        # the first word is capitalised anyway: only later ones count (acronyms are identifiers of their own)
        if index > 0 and base[:1].isupper() and base.lower() not in _NOT_NAMES and not base.isupper():
            names.add(base.lower())
    identifiers = {t for t in lowered if re.search(r"[a-z][._][a-z]", t)}
    return Signature(
        numbers=frozenset(_NUMBER.findall(question)),
        calendar=frozenset(t for t in lowered if t in CALENDAR),
        negated=negations % 2 == 1,
        words=frozenset(lowered),
        names=frozenset(names),
        identifiers=frozenset(identifiers),
    )


def mismatch(a: str, b: str) -> str | None:
    """Why two questions that embed alike must not share an answer, or None when nothing sets them apart."""
    sa, sb = signature(a), signature(b)
    if sa.numbers != sb.numbers:
        return "numbers"
    if sa.calendar != sb.calendar:
        return "calendar"
    if sa.negated != sb.negated:
        return "negation"
    for word in sa.words:
        opposite = OPPOSITES.get(word)
        if opposite and opposite in sb.words and opposite not in sa.words:
            return "opposite"
    if sa.names != sb.names:
        return "names"
    if sa.identifiers != sb.identifiers:
        return "identifiers"
    return None
