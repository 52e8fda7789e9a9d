"""Synthetic request-log traffic with known drift, for tests, benchmarks and demos (`twin monitor simulate`).

Profiles:
- `STABLE`: English questions about the sample author's material (data engineering and beekeeping), mostly
  answered with citations, the usual latency of model version "1";
- `TOPIC_SHIFT`: another topic (money, cooking, law) in another language (German), with longer prompts (context
  pasted before the question), more refusals and more negative ratings; same model, TTFT and TPOT;
- `SLOW_MODEL`: the stable questions, served by model version "2" with about twice the TTFT and TPOT (so latency).

The events are the gateway's contract (RequestLogged v2, FeedbackGiven); query embeddings come from the embedder
given (MiniLM in tests) or from `hashed_embeddings`, a cheap bag-of-words projection.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np
from twin_common.events import CacheHit, FeedbackGiven, GuardrailOutcome, RequestLogged

Embed = Callable[[list[str]], np.ndarray]

STABLE_TOPICS = [
    "consumer lag",
    "replication slots",
    "idempotent writes",
    "hive inspections",
    "queen marking",
    "backpressure",
    "tenant isolation",
    "winter feeding",
    "batch sizes",
    "dead-letter queues",
    "content hashes",
    "Debezium snapshots",
    "varroa mites",
    "swarm prevention",
    "schema migrations",
    "integration tests",
    "offset commits",
    "the honey harvest",
    "latency budgets",
    "replica identity",
    "retry policies",
    "the ingest pipeline",
    "naming things",
    "small batches",
    "logical decoding",
    "brood frames",
    "smoker fuel",
    "exactly-once delivery",
    "partition keys",
    "the reading list",
    "foundation wax",
    "hive ventilation",
    "tombstone events",
    "connector restarts",
    "queue depth",
    "the kettle repository",
]
STABLE_TEMPLATES = [
    "What did I write about {a}?",
    "How do {a} and {b} relate in my notes?",
    "Summarise my article on {a}.",
    "Why does {a} matter for {b}?",
    "Give me my checklist for {a}.",
    "What is my advice on {a} when {b} goes wrong?",
    "Which of my posts mention {a}?",
    "Explain {a} the way I would, {q}.",
    "What mistakes with {a} did I warn about?",
    "Compare {a} with {b}, {q}.",
]
QUALIFIERS = ["briefly", "in two sentences", "for a new engineer", "with an example", "step by step", "plainly"]
STABLE_ANSWERS = [
    "According to your notes, {a} depends on {b} [1].",
    "You wrote that {a} should be checked before {b} [1]. You also said to keep it simple [2].",
    "Your article on {a} says the main risk is {b} [1].",
    "In your post about {a} you recommend watching {b} closely [2].",
    "Your checklist for {a}: look at {b} first, then write it down [1] [3].",
]
REFUSALS = [
    "I don't know: the context does not mention {a}.",
    "I cannot answer that from your material.",
    "I'm not sure; there is no information about {a} in your notes.",
]

SHIFT_TOPICS = [
    "Hypothekenzinsen",
    "die Steuererklärung",
    "Sauerteigbrot",
    "das Mietrecht",
    "Aktienfonds",
    "die Erbschaftssteuer",
    "Rinderbraten",
    "die Kündigungsfrist",
    "Bausparverträge",
    "Apfelstrudel",
    "die Riester-Rente",
    "das Arbeitszeugnis",
    "Pflaumenkuchen",
    "die Grundsteuer",
    "Kreditkartengebühren",
    "das Ehegattensplitting",
]
SHIFT_TEMPLATES = [
    "Was muss ich über {a} wissen, wenn {b} sich ändert?",
    "Wie berechne ich {a} im Zusammenhang mit {b}?",
    "Kannst du mir {a} erklären, {q}?",
    "Welche Fristen gelten für {a} und {b}?",
    "Lohnt sich {a} noch, obwohl {b} teurer wird?",
]
SHIFT_QUALIFIERS = ["ganz einfach", "mit einem Beispiel", "Schritt für Schritt", "für Anfänger"]
SHIFT_CONTEXT = [
    "Ich habe letzte Woche einen Brief von der Bank bekommen und verstehe die Zahlen nicht.",
    "Meine Nachbarin meint, dass sich die Regeln seit Januar geändert haben.",
    "Wir planen nächstes Jahr umzuziehen und wollen vorher alles ordnen.",
    "Im Internet stehen dazu widersprüchliche Angaben, deshalb frage ich hier.",
    "Mein Steuerberater ist im Urlaub und ich muss bis Freitag entscheiden.",
    "Die Familie kommt am Wochenende und ich möchte nichts falsch machen.",
]
SHIFT_ANSWERS = [
    "Zu {a} finde ich in deinen Texten nur wenig; vermutlich hängt es von {b} ab.",
    "Ich bin mir nicht sicher, was {a} betrifft.",
]


@dataclass(frozen=True)
class Profile:
    name: str
    topics: tuple[str, ...]
    templates: tuple[str, ...]
    qualifiers: tuple[str, ...]
    answers: tuple[str, ...]
    context: tuple[str, ...] = ()  # sentences pasted before the question (longer prompts)
    context_sentences: int = 0
    refusal_rate: float = 0.08
    overhead_ms: tuple[float, float] = (120.0, 0.3)  # after the last token (output rails, log), log-normal
    ttft_ms: tuple[float, float] = (260.0, 0.2)  # median, log-normal sigma
    tpot_ms: tuple[float, float] = (38.0, 0.15)
    model: str = "twin-llm"
    model_version: str = "1"
    route: str = "twin"
    feedback_rate: float = 0.2
    positive_share: float = 0.8


STABLE = Profile(
    "stable",
    tuple(STABLE_TOPICS),
    tuple(STABLE_TEMPLATES),
    tuple(QUALIFIERS),
    tuple(STABLE_ANSWERS),
)
TOPIC_SHIFT = replace(
    STABLE,
    name="topic_shift",
    topics=tuple(SHIFT_TOPICS),
    templates=tuple(SHIFT_TEMPLATES),
    qualifiers=tuple(SHIFT_QUALIFIERS),
    answers=tuple(SHIFT_ANSWERS),
    context=tuple(SHIFT_CONTEXT),
    context_sentences=3,
    refusal_rate=0.45,
    positive_share=0.3,
)
SLOW_MODEL = replace(
    STABLE,
    name="slow_model",
    ttft_ms=(560.0, 0.2),
    tpot_ms=(72.0, 0.15),
    model_version="2",
)
PROFILES = {p.name: p for p in (STABLE, TOPIC_SHIFT, SLOW_MODEL)}


def hashed_embeddings(texts: list[str], dimension: int = 384) -> np.ndarray:
    """A cheap stand-in for a sentence embedding: the normalised sum of one fixed random vector per word."""
    out = np.zeros((len(texts), dimension), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in text.lower().split():
            seed = int.from_bytes(hashlib.blake2b(word.strip(".,?!:;").encode(), digest_size=8).digest(), "big")
            out[i] += np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)
        norm = np.linalg.norm(out[i])
        if norm:
            out[i] /= norm
    return out


@dataclass
class Generated:
    request: RequestLogged
    feedback: FeedbackGiven | None


def generate(
    profile: Profile,
    n: int,
    tenant_id: str,
    seed: int,
    embed: Embed | None = None,
    start: datetime | None = None,
    spacing_s: float = 0.05,
) -> list[Generated]:
    """`n` requests of the profile (deterministic for a seed; new event ids each call), with their feedback."""
    rng = random.Random(seed)
    start = start or datetime.now(UTC)
    prompts, answers, rows = [], [], []
    for i in range(n):
        a, b = rng.sample(profile.topics, 2)
        question = rng.choice(profile.templates).format(a=a, b=b, q=rng.choice(profile.qualifiers))
        context = " ".join(rng.sample(profile.context, profile.context_sentences)) if profile.context_sentences else ""
        prompt = f"{context} {question}".strip()
        refused = rng.random() < profile.refusal_rate
        answer = (rng.choice(REFUSALS) if refused else rng.choice(profile.answers)).format(a=a, b=b)
        prompts.append(prompt)
        answers.append(answer)
        rows.append((i, refused))
    vectors = (embed or hashed_embeddings)(prompts)
    out = []
    for (i, refused), prompt, answer, vector in zip(rows, prompts, answers, vectors, strict=True):
        completion_tokens = max(1, int(len(answer.split()) * 1.3))
        ttft = rng.lognormvariate(np.log(profile.ttft_ms[0]), profile.ttft_ms[1])
        tpot = rng.lognormvariate(np.log(profile.tpot_ms[0]), profile.tpot_ms[1])
        overhead = rng.lognormvariate(np.log(profile.overhead_ms[0]), profile.overhead_ms[1])
        latency = ttft + tpot * completion_tokens + overhead
        cache = rng.choices([CacheHit.NONE, CacheHit.EXACT, CacheHit.SEMANTIC], weights=[80, 8, 12])[0]
        request_id = uuid.uuid4().hex
        cited = [] if refused else [f"doc-{rng.randrange(40)}" for _ in range(answer.count("["))]
        request = RequestLogged(
            request_id=request_id,
            tenant_id=tenant_id,
            key_id="synthetic",
            surface=rng.choice(["rest", "grpc", "openai"]),
            route=profile.route,
            intent="grounded_question",
            model=profile.model,
            model_version=profile.model_version,
            template_version="rag-v1",
            prompt=prompt,
            response=answer,
            streamed=True,
            latency_ms=round(latency, 2),
            ttft_ms=round(ttft, 2),
            tpot_ms=round(tpot, 2),
            prompt_tokens=max(1, int(len(prompt.split()) * 1.3)),
            completion_tokens=completion_tokens,
            cache_hit=cache,
            retrieved_document_ids=[f"doc-{rng.randrange(40)}" for _ in range(5)],
            cited_document_ids=cited,
            query_embedding=[round(float(x), 6) for x in vector],
            embedding_model="all-MiniLM-L6-v2",
            guardrails=[GuardrailOutcome(rail="input.pii", decision=rng.choices(["pass", "mask"], [95, 5])[0])],
            occurred_at=start + timedelta(seconds=i * spacing_s),
        )
        feedback = None
        if rng.random() < profile.feedback_rate:
            positive = rng.random() < profile.positive_share
            feedback = FeedbackGiven(
                request_id=request_id,
                tenant_id=tenant_id,
                rating=1 if positive else rng.choice([-1, -1, 0]),
                question=prompt,
                answer=answer,
                model=profile.model,
                model_version=profile.model_version,
            )
        out.append(Generated(request, feedback))
    return out
