"""Pure parts of the twin pipeline: the document split, the snapshot manifest, stylometry and the style judge,
instruction writers, the preference triples from feedback, the GPU memory estimate."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np
import pytest
from twin_common.documents import DocumentRow
from twin_common.events import FeedbackGiven
from twin_trainer.llm.instructions import (
    LlmInstructionWriter,
    TemplateInstructionWriter,
    usable_instruction,
)
from twin_trainer.llm.passages import Passage, split_documents
from twin_trainer.llm.preferences import from_feedback
from twin_trainer.llm.snapshot import CorpusSnapshot
from twin_trainer.llm.stylometry import FUNCTION_WORDS, AuthorClassifier, StyleFeatures, profile_similarity
from twin_trainer.llm.training import estimate_gpu_memory


def doc(i: int, content: str = "text", tenant: str = "t") -> DocumentRow:
    return DocumentRow(
        id=f"00000000-0000-0000-0000-{i:012d}",
        tenant_id=tenant,
        author_id="a",
        kind="article",
        external_id=f"essay-{i}.md",
        content=content,
        content_hash=f"sha256:{i}",
    )


def test_split_is_by_document_deterministic_and_stable_when_documents_are_added():
    docs = [doc(i) for i in range(40)]
    split = split_documents(docs, 0.2)
    assert len(split.heldout) == 8 and len(split.train) == 32
    assert {d.id for d in split.heldout}.isdisjoint({d.id for d in split.train})
    assert split_documents(list(reversed(docs)), 0.2).heldout == split.heldout
    # a new document never moves an old one from training to held-out (only the new one may be held out)
    grown = split_documents([*docs, *(doc(i) for i in range(40, 45))], 0.2)
    assert {d.id for d in grown.heldout} - {d.id for d in split.heldout} <= {doc(i).id for i in range(40, 45)} | set()
    with pytest.raises(ValueError, match="at least 2"):
        split_documents([doc(1)], 0.2)


def test_snapshot_fingerprint_and_changes_since_a_manifest():
    snap = CorpusSnapshot("t", "a", "Ann", "0/16B3748", "100:100:", datetime.now(UTC), [doc(1), doc(2)])
    manifest = snap.manifest()
    assert manifest["wal_lsn"] == "0/16B3748" and [d["id"] for d in manifest["documents"]] == [doc(1).id, doc(2).id]
    changed = CorpusSnapshot(
        "t",
        "a",
        "Ann",
        "0/16C0000",
        "101:101:",
        datetime.now(UTC),
        [doc(1), doc(3), DocumentRow(**{**doc(2).model_dump(), "content_hash": "sha256:new"})],
    )
    assert changed.fingerprint != snap.fingerprint
    assert changed.changed_since(manifest) == sorted([doc(2).id, doc(3).id])
    assert snap.changed_since(manifest) == []


def _writer(seed: int, favourites: list[str], n_words: int = 200) -> str:
    rng = random.Random(seed)
    vocabulary = FUNCTION_WORDS + "government union states power people nation constitution".split()
    weights = [8.0 if w in favourites else 1.0 for w in vocabulary]
    sentences, words = [], rng.choices(vocabulary, weights, k=n_words)
    for i in range(0, n_words, 20):
        sentences.append(" ".join(words[i : i + 20]).capitalize() + ".")
    return " ".join(sentences)


def test_function_word_classifier_tells_two_writers_apart_on_unseen_texts():
    author = [_writer(i, ["upon", "there", "would"]) for i in range(40)]
    contrast = [
        _writer(100 + i, ["whilst", "also", "may"] if "whilst" in FUNCTION_WORDS else ["also", "may", "by"])
        for i in range(40)
    ]
    judge = AuthorClassifier(author[:30], contrast[:30])
    assert judge.accuracy(author[30:], contrast[30:]) >= 0.9
    assert np.mean(judge.p_author(author[30:])) > 0.8 > 0.2 > np.mean(judge.p_author(contrast[30:]))


def test_style_profile_similarity_prefers_the_same_writer():
    author = [_writer(i, ["upon", "there"]) for i in range(10)]
    other = ["Hi! lol. ok? " * 20 for _ in range(5)]
    same = profile_similarity([_writer(99, ["upon", "there"])], author)
    assert 0.0 <= profile_similarity(other, author) < same <= 1.0
    features = StyleFeatures.of("Upon reflection, there is one thing. There is another!")
    assert features.n_words == 9 and features.mean_sentence_words == 4.5


def passage(i: int, text: str, kind: str = "article", title: str = "Small batches") -> Passage:
    return Passage(f"p{i}", f"d{i}", f"e{i}", title, kind, ("ops",), 0, text)


def test_template_instructions_name_the_title_and_key_phrases():
    passages = [
        passage(
            1, "Small batches keep the consumer lag low. The batch size is a latency budget, not a throughput knob."
        ),
        passage(2, "A replication slot nobody reads fills the disk. Name every slot after its owner.", kind="post"),
        passage(
            3,
            "The queen was marked red this year. The colony is calm and the brood frames are full.",
            kind="note",
            title="queen-marking",
        ),
    ]
    written = {i.passage_id: i.text for i in TemplateInstructionWriter().write(passages)}
    assert all(i.writer == "template" for i in TemplateInstructionWriter().write(passages))
    assert "Small batches" in written["p1"] or "batch" in written["p1"]
    assert "slot" in written["p2"] or "disk" in written["p2"]
    assert written == {i.passage_id: i.text for i in TemplateInstructionWriter().write(passages)}  # deterministic


def test_llm_writer_keeps_usable_replies_and_falls_back_on_the_others():
    passages = [passage(1, "Small batches keep lag low."), passage(2, "Slots fill disks.")]
    replies = iter(["Question: Why do small batches keep consumer lag low?", "Slots fill disks."])
    writer = LlmInstructionWriter(lambda messages: next(replies), "stub", TemplateInstructionWriter())
    out = writer.write(passages)
    assert out[0].text == "Why do small batches keep consumer lag low?" and out[0].writer == "llm:stub"
    assert out[1].writer == "template" and writer.fallbacks == 1  # a copy of the passage is not an instruction
    assert usable_instruction("line one\nline two", "x") is None and usable_instruction("Why?", "x") is None
    # what SmolLM2-135M wrote for the sample corpus: descriptions of the passage and chat filler, not requests
    for reply in (
        "This passage provides a detailed explanation of how PostgreSQL handles log storage.",
        "I'm ready to help. What's your request?",
        "The passage provides a concise explanation of a single request or question.",
        "Bees are wonderful pollinators and the colony is calm.",
    ):
        assert usable_instruction(reply, "x") is None, reply
    assert usable_instruction("Explain why a replication slot nobody reads fills the disk.", "x")


def test_feedback_becomes_triples_for_this_tenant_only():
    def event(request_id, tenant="t", **kw):
        return FeedbackGiven(
            request_id=request_id, tenant_id=tenant, question="How do slots fill disks?", answer="They do not.", **kw
        )

    events = [
        event("r1", rating=-1, corrected_answer="A slot nobody reads keeps WAL until the disk fills."),
        event("r1", rating=-1, corrected_answer="replayed event"),
        event("r2", rating=-1),  # thumbs-down: the closest passage of the author is chosen
        event("r3", rating=1),
        event("r4", tenant="other", rating=-1, corrected_answer="another tenant's correction"),
    ]
    passages = ["A replication slot nobody reads fills the disk.", "Bees cluster in winter."]

    def embed(texts):
        return np.array([[1.0, 0.0] if ("slot" in t or "Slot" in t or "slots" in t) else [0.0, 1.0] for t in texts])

    triples, skipped = from_feedback(events, "t", passages, embed, min_similarity=0.5)
    assert [(t.triple_id, t.source) for t in triples] == [
        ("feedback:r1", "feedback:correction"),
        ("feedback:r2", "feedback:thumbs_down"),
    ]
    assert triples[0].chosen.startswith("A slot nobody reads") and triples[0].rejected == "They do not."
    assert triples[1].chosen == passages[0]
    assert skipped == {"duplicate_request": 1, "positive_or_neutral": 1}
    assert all("another tenant" not in t.chosen for t in triples)


def test_gpu_memory_estimate_for_an_8b_model_with_qlora_fits_a_24_gib_card():
    # Llama-3.1-8B: hidden 4096, intermediate 14336, 32 layers, 8 KV heads of 128 -> kv hidden 1024
    q = estimate_gpu_memory(
        8_030_000_000, 4096, 14336, 32, 1024, r=32, batch_size=2, max_length=2048, quantization="4bit"
    )
    full = estimate_gpu_memory(
        8_030_000_000, 4096, 14336, 32, 1024, r=32, batch_size=2, max_length=2048, quantization="none"
    )
    assert 4.0 < q.weights_gib < 4.5 and 14.5 < full.weights_gib < 15.5
    assert 1.0 < q.adapter_and_optimizer_gib < 1.5  # 84M LoRA parameters x 16 bytes
    assert q.total_gib < 12 < 16 < full.total_gib
    assert "GPU memory estimate" in q.describe()


def test_llm_judge_asks_both_orders_so_position_bias_cancels():
    from twin_trainer.llm.evaluation import EvalSet, HeldoutItem, groundedness, judge_win_rate

    eval_set = EvalSet([], [HeldoutItem("q1?", "author text"), HeldoutItem("q2?", "author text")], ["", ""], [])
    candidate, reference = ["the twin's answer", "the twin's answer"], ["base answer", "base answer"]
    always_a = lambda messages: "A"  # noqa: E731 - a judge that only ever picks the first position

    def knows_the_twin(messages):
        content = messages[0]["content"]
        return "A" if "Answer A:\nthe twin" in content else "B"

    assert judge_win_rate(always_a, eval_set, candidate, reference) == 0.5
    assert judge_win_rate(knows_the_twin, eval_set, candidate, reference) == 1.0
    assert judge_win_rate(knows_the_twin, eval_set, reference, candidate) == 0.0
    # content words: slots, disks, quickly ("fill" is an English stop word); two of three are in the context
    assert groundedness(
        "Slots fill disks quickly", "a replication slot fills the disk; slots fill disks"
    ) == pytest.approx(2 / 3)
    assert groundedness("", "context") == 0.0
