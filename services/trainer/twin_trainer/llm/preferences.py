"""Preference triples (prompt, chosen, rejected) for DPO.

- From the author's own text: the prompt is a curated row's instruction, chosen the author's passage, rejected
  what the base model answers to the same instruction (greedy).
- From gateway feedback (`FeedbackGiven` on `twin.feedback`, this tenant only): a `corrected_answer` is chosen and
  the served answer rejected; a thumbs-down without a correction takes as chosen the author's training passage
  closest to the question (MiniLM cosine at least `min_similarity`), else it is dropped with that reason.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from twin_common.events import FeedbackGiven


@dataclass(frozen=True)
class PreferenceTriple:
    triple_id: str
    prompt: str
    chosen: str
    rejected: str
    source: str  # "author_vs_base" or "feedback:correction" / "feedback:thumbs_down"
    document_id: str = ""

    def as_dpo_row(self) -> dict:
        return {
            "prompt": [{"role": "user", "content": self.prompt}],
            "chosen": [{"role": "assistant", "content": self.chosen}],
            "rejected": [{"role": "assistant", "content": self.rejected}],
        }


def author_vs_base(
    rows: Sequence[tuple[str, str, str, str]], answer: Callable[[list[str]], list[str]]
) -> list[PreferenceTriple]:
    """rows: (row id, document id, instruction, author's passage); `answer` is the base model on a batch of prompts."""
    replies = answer([instruction for _, _, instruction, _ in rows])
    return [
        PreferenceTriple(row_id, instruction, passage, reply, "author_vs_base", document_id)
        for (row_id, document_id, instruction, passage), reply in zip(rows, replies, strict=True)
        if reply.strip() and reply.strip() != passage.strip()
    ]


def from_feedback(
    events: Sequence[FeedbackGiven],
    tenant_id: str,
    passages: Sequence[str],
    embed: Callable[[list[str]], np.ndarray] | None,
    min_similarity: float,
) -> tuple[list[PreferenceTriple], Counter]:
    """Triples from this tenant's feedback, and what was skipped and why."""
    skipped: Counter = Counter()
    mine = []
    seen: set[str] = set()
    for event in events:
        if event.tenant_id != tenant_id:
            continue  # another tenant's feedback never trains this twin (not even counted)
        if event.request_id in seen:
            skipped["duplicate_request"] += 1
            continue
        seen.add(event.request_id)
        mine.append(event)
    triples: list[PreferenceTriple] = []
    needs_passage: list[FeedbackGiven] = []
    for event in mine:
        if not event.question or not event.answer:
            skipped["no_question_or_answer"] += 1
        elif event.corrected_answer and event.corrected_answer.strip() != event.answer.strip():
            triples.append(
                PreferenceTriple(
                    f"feedback:{event.request_id}",
                    event.question,
                    event.corrected_answer,
                    event.answer,
                    "feedback:correction",
                )
            )
        elif event.rating < 0:
            needs_passage.append(event)
        else:
            skipped["positive_or_neutral"] += 1
    if needs_passage:
        if embed is None or not passages:
            skipped["thumbs_down_without_passages"] += len(needs_passage)
        else:
            passage_vectors = embed(list(passages))
            question_vectors = embed([e.question or "" for e in needs_passage])
            for event, q in zip(needs_passage, question_vectors, strict=True):
                sims = passage_vectors @ q
                best = int(np.argmax(sims))
                if sims[best] < min_similarity:
                    skipped["thumbs_down_no_close_passage"] += 1
                    continue
                triples.append(
                    PreferenceTriple(
                        f"feedback:{event.request_id}",
                        event.question or "",
                        passages[best],
                        event.answer or "",
                        "feedback:thumbs_down",
                    )
                )
    return triples, skipped


def read_feedback(bootstrap_servers: str, topic: str, timeout_s: float = 10.0) -> list[FeedbackGiven]:
    """Every FeedbackGiven on the topic, from the beginning to its end now (a group-less read: no offsets move).
    Messages that are not FeedbackGiven events are skipped."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False, group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return []
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(tps)
        events: list[FeedbackGiven] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                for record in batch:
                    try:
                        events.append(FeedbackGiven.from_bytes(record.value))
                    except ValueError:
                        continue
        return events
    finally:
        consumer.close()
