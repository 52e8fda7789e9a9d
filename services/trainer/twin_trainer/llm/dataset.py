"""The twin's dataset from a corpus snapshot: held-out split, evaluation set, curated instruction rows and
preference triples, with a report of every step and a content hash.

Order matters and is fixed: (1) split the author's documents (and the contrast authors') into training and
held-out, by document; (2) build the evaluation set from the held-out side only; (3) cut the training documents
into passages and curate them (rules, exact dedup, near-dedup); (4) write an instruction per passage; (5)
decontaminate rows (passage and instruction) against every evaluation set; (6) optionally sample; (7) preference
triples: the author's passage against the base model's answer, plus the tenant's feedback (deduplicated and
decontaminated too).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin_trainer.llm.config import TwinRunConfig
from twin_trainer.llm.curation import Decontaminate, ExactDedup, NearDedup, Row, RuleFilter, StepReport, curate
from twin_trainer.llm.evaluation import EvalSet, HeldoutItem, centroid
from twin_trainer.llm.instructions import InstructionWriter, TemplateInstructionWriter
from twin_trainer.llm.passages import DocumentSplit, Passage, passages_of, split_documents
from twin_trainer.llm.preferences import PreferenceTriple, author_vs_base, from_feedback
from twin_trainer.llm.snapshot import CorpusSnapshot
from twin_trainer.llm.stylometry import AuthorClassifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SftRow:
    row_id: str  # the passage id
    document_id: str
    prompt: str
    completion: str
    writer: str

    def as_sft_record(self) -> dict:
        return {
            "prompt": [{"role": "user", "content": self.prompt}],
            "completion": [{"role": "assistant", "content": self.completion}],
        }


@dataclass
class TwinDataset:
    snapshot: CorpusSnapshot
    split: DocumentSplit
    sft_rows: list[SftRow]
    triples: list[PreferenceTriple]
    eval_set: EvalSet
    reports: list[StepReport]  # curation of the instruction rows, step by step
    feedback_reports: list[StepReport]
    counts: dict[str, int]
    feedback_skipped: dict[str, int] = field(default_factory=dict)
    instruction_writer: str = "template"

    def sft_records(self) -> list[dict]:
        return [r.as_sft_record() for r in self.sft_rows]

    def dpo_records(self) -> list[dict]:
        return [t.as_dpo_row() for t in self.triples]

    @property
    def digest(self) -> str:
        """sha256 of the SFT and DPO rows (canonical JSON): the dataset's version."""
        h = hashlib.sha256()
        for record in [*self.sft_records(), {"--": "dpo"}, *self.dpo_records()]:
            h.update(json.dumps(record, sort_keys=True, ensure_ascii=False).encode())
            h.update(b"\n")
        return "sha256:" + h.hexdigest()

    def report(self) -> dict:
        return {
            "digest": self.digest,
            "snapshot": {k: v for k, v in self.snapshot.manifest().items() if k not in ("documents", "contrast")},
            "counts": self.counts,
            "instruction_writer": self.instruction_writer,
            "curation": [r.as_dict() for r in self.reports],
            "feedback_curation": [r.as_dict() for r in self.feedback_reports],
            "feedback_skipped": self.feedback_skipped,
            "heldout_documents": sorted(d.external_id for d in self.split.heldout),
            "style_classifier_heldout_accuracy": self.eval_set.classifier_accuracy,
        }

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        _jsonl(
            folder / "sft.jsonl",
            [
                {"id": r.row_id, "document_id": r.document_id, "writer": r.writer, **r.as_sft_record()}
                for r in self.sft_rows
            ],
        )
        _jsonl(folder / "dpo.jsonl", [{"id": t.triple_id, "source": t.source, **t.as_dpo_row()} for t in self.triples])
        _jsonl(folder / "eval_heldout.jsonl", [i.__dict__ for i in self.eval_set.ppl_items])
        _jsonl(
            folder / "eval_questions.jsonl",
            [
                {**q.__dict__, "context": c}
                for q, c in zip(self.eval_set.questions, self.eval_set.contexts, strict=True)
            ],
        )
        (folder / "curation_report.json").write_text(json.dumps(self.report(), indent=2, default=str))
        (folder / "snapshot_manifest.json").write_text(json.dumps(self.snapshot.manifest(), indent=2, default=str))
        return folder


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _round_robin(passages: Sequence[Passage], limit: int) -> list[Passage]:
    """Up to `limit` passages spread over the documents (first passage of each, then the second...)."""
    by_doc: dict[str, list[Passage]] = {}
    for p in passages:
        by_doc.setdefault(p.document_id, []).append(p)
    queues = [by_doc[k] for k in sorted(by_doc)]
    out: list[Passage] = []
    depth = 0
    while len(out) < limit and any(depth < len(q) for q in queues):
        out += [q[depth] for q in queues if depth < len(q)][: limit - len(out)]
        depth += 1
    return out


def _sample(rows: list, limit: int, seed: int, key: Callable) -> list:
    if limit <= 0 or len(rows) <= limit:
        return rows
    ranked = sorted(rows, key=lambda r: hashlib.sha1(f"{seed}:{key(r)}".encode()).hexdigest())
    chosen = {key(r) for r in ranked[:limit]}
    return [r for r in rows if key(r) in chosen]


def build_eval_set(
    split: DocumentSplit,
    train_passages: Sequence[Passage],
    heldout_passages: Sequence[Passage],
    contrast: dict[str, DocumentSplit],
    config: TwinRunConfig,
    embedder,
) -> EvalSet:
    ev = config.evaluation
    writer = TemplateInstructionWriter(corpus=[*train_passages, *heldout_passages])
    scored = _round_robin(heldout_passages, ev.max_heldout_passages)
    instructions = {i.passage_id: i.text for i in writer.write(scored)}
    ppl_items = [HeldoutItem(instructions[p.passage_id], p.text) for p in scored]
    question_passages = _round_robin(heldout_passages, ev.generations)
    q_instr = {i.passage_id: i.text for i in writer.write(question_passages)}
    questions = [HeldoutItem(q_instr[p.passage_id], p.text) for p in question_passages]
    reference = [p.text for p in heldout_passages]
    contexts: list[str] = []
    center = None
    if embedder is not None and train_passages:
        train_vectors = embedder.embed([p.text for p in train_passages])
        for q in questions:
            sims = train_vectors @ embedder.embed([q.question])[0]
            top = np.argsort(-sims)[: ev.rag_top_k]
            contexts.append("\n\n".join(train_passages[int(i)].text for i in top))
        center = centroid(embedder, reference)
    else:
        contexts = ["" for _ in questions]
    classifier, accuracy = None, None
    if contrast:
        contrast_train = [p.text for s in contrast.values() for p in passages_of(s.train)]
        contrast_heldout = [p.text for s in contrast.values() for p in passages_of(s.heldout)]
        if contrast_train:
            classifier = AuthorClassifier([p.text for p in train_passages], contrast_train)
            if contrast_heldout:
                accuracy = classifier.accuracy(reference, contrast_heldout)
    return EvalSet(ppl_items, questions, contexts, reference, center, classifier, accuracy)


def split_snapshot(snapshot: CorpusSnapshot, config: TwinRunConfig) -> tuple[DocumentSplit, dict[str, DocumentSplit]]:
    """The author's documents and each contrast author's (with at least two) split into training and held-out."""
    ds = config.dataset
    split = split_documents(snapshot.documents, ds.heldout_fraction, ds.min_heldout_documents, ds.seed)
    contrast = {
        name: split_documents(docs, ds.heldout_fraction, ds.min_heldout_documents, ds.seed)
        for name, docs in snapshot.contrast.items()
        if len(docs) >= 2
    }
    return split, contrast


def build_dataset(
    snapshot: CorpusSnapshot,
    config: TwinRunConfig,
    *,
    embedder=None,
    writer: InstructionWriter | None = None,
    base_answers: Callable[[list[str]], list[str]] | None = None,
    feedback: Sequence = (),
    progress: Callable[[str], None] = lambda message: None,
) -> TwinDataset:
    ds, cur = config.dataset, config.curation
    split, contrast = split_snapshot(snapshot, config)
    train_passages = passages_of(split.train)
    heldout_passages = passages_of(split.heldout)
    progress(
        f"split: {len(split.train)} training and {len(split.heldout)} held-out documents; "
        f"{len(train_passages)} / {len(heldout_passages)} passages"
    )
    eval_set = build_eval_set(split, train_passages, heldout_passages, contrast, config, embedder)
    progress(
        f"evaluation set: {len(eval_set.ppl_items)} held-out passages, {len(eval_set.questions)} questions"
        + (
            f", style classifier accuracy on held-out documents {eval_set.classifier_accuracy:.2f}"
            if eval_set.classifier_accuracy is not None
            else ""
        )
    )

    by_id = {p.passage_id: p for p in train_passages}
    rows = [Row(p.passage_id, p.document_id, p.text, kind=p.kind) for p in train_passages]
    first = curate(
        rows,
        [RuleFilter(cur), ExactDedup(), NearDedup(cur.near_dup_threshold, cur.near_dup_num_perm, cur.shingle_words)],
    )
    writer = writer or TemplateInstructionWriter(corpus=train_passages)
    instructions = {i.passage_id: i for i in writer.write([by_id[r.row_id] for r in first.rows])}
    with_prompts = [Row(r.row_id, r.document_id, r.text, instructions[r.row_id].text, r.kind) for r in first.rows]
    eval_texts = eval_set.texts_by_set()
    decontaminate = Decontaminate(eval_texts, cur.decontamination_ngram, cur.decontamination_min_overlap)
    second = curate(with_prompts, [decontaminate])
    curated = _sample(second.rows, ds.max_sft_rows, ds.seed, key=lambda r: r.row_id)
    reports = [*first.reports, *second.reports]
    if len(curated) < len(second.rows):
        reports.append(
            StepReport("sample", len(second.rows), len(curated), {"over_max_sft_rows": len(second.rows) - len(curated)})
        )
    sft_rows = [SftRow(r.row_id, r.document_id, r.prompt, r.text, instructions[r.row_id].writer) for r in curated]
    progress("curation: " + ", ".join(f"{r.step} {r.rows_in}->{r.rows_out}" for r in reports))

    triples: list[PreferenceTriple] = []
    if config.dpo.enabled and base_answers is not None and ds.preference_pairs > 0:
        picked = _sample(sft_rows, ds.preference_pairs, ds.seed + 1, key=lambda r: r.row_id)
        progress(f"preference triples: the base model answers {len(picked)} instructions")
        triples = author_vs_base([(r.row_id, r.document_id, r.prompt, r.completion) for r in picked], base_answers)
    feedback_triples, skipped = from_feedback(
        feedback,
        snapshot.tenant_id,
        [r.completion for r in sft_rows],
        embedder.embed if embedder is not None else None,
        ds.feedback_min_similarity,
    )
    feedback_reports: list[StepReport] = []
    if feedback_triples:
        fb_rows = [Row(t.triple_id, "", t.chosen, t.prompt, "post") for t in feedback_triples]
        fb = curate(
            fb_rows,
            [ExactDedup(), Decontaminate(eval_texts, cur.decontamination_ngram, cur.decontamination_min_overlap)],
        )
        kept = {r.row_id for r in fb.rows}
        feedback_triples = [t for t in feedback_triples if t.triple_id in kept]
        feedback_reports = fb.reports
    triples += feedback_triples
    counts = {
        "documents": len(snapshot.documents),
        "documents_train": len(split.train),
        "documents_heldout": len(split.heldout),
        "passages_train": len(train_passages),
        "passages_heldout": len(heldout_passages),
        **{f"rows_after_{r.step}": r.rows_out for r in reports},
        "sft_rows": len(sft_rows),
        "dpo_triples_author_vs_base": sum(1 for t in triples if t.source == "author_vs_base"),
        "dpo_triples_feedback": sum(1 for t in triples if t.source.startswith("feedback")),
        "feedback_events": len(feedback),
        "eval_heldout_passages": len(eval_set.ppl_items),
        "eval_questions": len(eval_set.questions),
    }
    return TwinDataset(
        snapshot,
        split,
        sft_rows,
        triples,
        eval_set,
        reports,
        feedback_reports,
        counts,
        dict(Counter(skipped)),
        getattr(writer, "name", "template"),
    )
