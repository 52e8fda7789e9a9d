"""Intent of a question: rules (regular expressions), about 20 µs a call, measured on the labelled set in
`data/intents.jsonl` (written before these rules; tuned on its `dev` split, reported on `heldout`:
`python -m twin_gateway.router.intent_eval`).

- small_talk: greetings, thanks, chit-chat -> answered without retrieval;
- write_in_voice: "write/draft ... in my voice/style", "ghostwrite", "make this sound like me" -> retrieval of the
  author's own passages as style examples, the voice template;
- out_of_scope: real-time facts and actions the twin cannot do (weather, prices, bookings, devices) -> a fixed
  reply, no model call;
- grounded_question: everything else -> retrieval and the grounded template (which says when the context lacks
  the answer). The default on purpose: a question wrongly sent here still gets an honest answer.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Intent(StrEnum):
    SMALL_TALK = "small_talk"
    GROUNDED_QUESTION = "grounded_question"
    WRITE_IN_VOICE = "write_in_voice"
    OUT_OF_SCOPE = "out_of_scope"


_SMALL_TALK = re.compile(
    r"^\W*(hi|hello|hey|yo|morning|good (morning|afternoon|evening|night)|thanks|thank you|thx|cheers|bye|goodbye|"
    r"see you|nice to meet you|how are you|how'?s it going|how have you been|what'?s up|sup|ok(ay)?|cool|great|"
    r"awesome|lol|haha|hmm+|never ?mind|sorry|much appreciated|you'?re (awesome|great)|have a nice day|"
    r"who are you|what are you|are you a (bot|robot|human)|what'?s your name|i'?m back|that'?s funny)\b",
    re.IGNORECASE,
)
_QUESTION_WORDS = re.compile(
    r"\b(what did i|my (article|post|note|notes|code|writing)|explain|summari[sz]e|according to)\b", re.IGNORECASE
)
_VOICE = re.compile(
    r"\b(in my (voice|style|tone|usual voice|writing style)|my (style|tone)\b|like i(?:'d| would)? (would )?write|"
    r"like i would|the way i (write|do)|sound(s|ing)? like me|as me\b|as i would|like me\b|imitate my|"
    r"ghostwrite|write as me)",
    re.IGNORECASE,
)
_COMPOSE = re.compile(
    r"^\W*(please\s+)?(could you\s+|can you\s+)?(write|draft|compose|pen|produce|rewrite|ghostwrite)\b.*\b(post|tweet|toot|"
    r"thread|article|blog|paragraph|essay|email|newsletter|abstract|intro|readme|haiku|note|reply|blurb)\b",
    re.IGNORECASE,
)
_OUT_OF_SCOPE = re.compile(
    r"\b(weather|forecast|going to rain|(stock|share|current) price|trading at|exchange rate|price of gold|"
    r"score of|who won the game|last night'?s game|headlines|latest news|news today|trending|traffic|"
    r"book (me )?a|reserve a|order (a|more|me)|buy (a|me)|pay my|set an? (alarm|timer|reminder)|remind me|"
    r"call my|send an? (email|message|text) to|schedule a meeting|open my calendar|play (some )?music|"
    r"turn (on|off|up|down)|navigate to|find a restaurant|near me|track my (package|order)|bank balance|"
    r"delete all my|what time is it|movies are playing|translate\b)",
    re.IGNORECASE,
)
_OWN_WRITING = re.compile(r"\b(i wrote|did i|my (notes?|articles?|posts?|writing|code|rules?)|i said|in the apiary)\b", re.I)


def classify(text: str) -> Intent:
    stripped = text.strip()
    if _VOICE.search(stripped) or _COMPOSE.search(stripped):
        return Intent.WRITE_IN_VOICE
    if _OUT_OF_SCOPE.search(stripped) and not _OWN_WRITING.search(stripped):
        return Intent.OUT_OF_SCOPE
    words = len(stripped.split())
    if words <= 8 and _SMALL_TALK.search(stripped) and not _QUESTION_WORDS.search(stripped):
        return Intent.SMALL_TALK
    return Intent.GROUNDED_QUESTION
