"""Curation of training rows, one step at a time, each reporting what it dropped and why.

Steps (in this order by default): rule filters (length, language, boilerplate, code/text balance), exact dedup
(normalise + sha256), near-dedup (MinHash LSH from `datasketch` over word shingles, threshold configurable) and
decontamination (a row sharing a word n-gram with any item of any evaluation set is dropped). The held-out split
by document happens before any of this (passages.split_documents).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from twin_trainer.llm.config import CurationSettings


@dataclass(frozen=True)
class Row:
    """What curation looks at: the training text (an answer, a passage) and the prompt that goes with it."""

    row_id: str
    document_id: str
    text: str
    prompt: str = ""
    kind: str = "article"


@dataclass(frozen=True)
class Drop:
    row_id: str
    reason: str
    detail: str = ""


@dataclass
class StepReport:
    step: str
    rows_in: int
    rows_out: int
    dropped_by_reason: dict[str, int] = field(default_factory=dict)
    examples: list[Drop] = field(default_factory=list)  # the first few drops, for the report

    def as_dict(self) -> dict:
        return {
            "step": self.step,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped": self.rows_in - self.rows_out,
            "dropped_by_reason": dict(sorted(self.dropped_by_reason.items())),
            "examples": [d.__dict__ for d in self.examples],
        }


class CurationStep(Protocol):
    name: str

    def apply(self, rows: Sequence[Row]) -> tuple[list[Row], list[Drop]]: ...


@dataclass
class CurationResult:
    rows: list[Row]
    reports: list[StepReport]
    drops: list[Drop]

    def counts(self) -> dict[str, int]:
        """Rows after each step, e.g. {"input": 120, "rules": 110, ...}."""
        if not self.reports:
            return {"input": len(self.rows)}
        return {"input": self.reports[0].rows_in, **{r.step: r.rows_out for r in self.reports}}


def curate(rows: Sequence[Row], steps: Sequence[CurationStep], max_examples: int = 10) -> CurationResult:
    current = list(rows)
    reports, all_drops = [], []
    for step in steps:
        kept, drops = step.apply(current)
        if len(kept) + len(drops) != len(current):
            raise AssertionError(f"curation step {step.name} lost rows: {len(current)} in, {len(kept)} + {len(drops)}")
        reports.append(
            StepReport(step.name, len(current), len(kept), dict(Counter(d.reason for d in drops)), drops[:max_examples])
        )
        all_drops += drops
        current = kept
    return CurationResult(current, reports, all_drops)


# --- text normalisation -------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(unicodedata.normalize("NFKC", text))]


def normalise(text: str) -> str:
    """Case, unicode form, punctuation and whitespace folded: what makes two copies 'the same text'."""
    return " ".join(words(text))


def ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    if len(tokens) < n:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


# --- steps ----------------------------------------------------------------------------------------

_BOILERPLATE_LINE = re.compile(
    r"^(share (this|on)\b|subscribe\b|sign up\b|follow (me|us)\b|all rights reserved|cookies?\b|"
    r"this (site|website) uses cookies|accept (all )?cookies|read more\b|click here\b|advertisement\b|"
    r"copyright\b|©|home\s*[>|/]|skip to (main )?content|posted (on|by)\b|tags?:|comments?\s*\(\d+\))",
    re.IGNORECASE,
)
_SYMBOLS = set("{}[]()<>;=+*/\\|&^%$#@~`_")


def detect_language(text: str) -> str:
    import py3langid

    return py3langid.classify(text)[0]


class RuleFilter:
    """Length in words, language, share of boilerplate lines, code/text balance of prose."""

    name = "rules"

    def __init__(self, settings: CurationSettings, language_of=detect_language):
        self.settings = settings
        self.language_of = language_of

    def apply(self, rows: Sequence[Row]) -> tuple[list[Row], list[Drop]]:
        s = self.settings
        languages = {r.row_id: self.language_of(r.text) for r in rows if r.kind != "repository"}
        allowed = set(s.languages)
        if not allowed and languages:
            allowed = {Counter(languages.values()).most_common(1)[0][0]}
        kept, drops = [], []
        for row in rows:
            reason = self._reason(row, languages.get(row.row_id), allowed)
            if reason is None:
                kept.append(row)
            else:
                drops.append(Drop(row.row_id, reason[0], reason[1]))
        return kept, drops

    def _reason(self, row: Row, language: str | None, allowed: set[str]) -> tuple[str, str] | None:
        s = self.settings
        n_words = len(words(row.text))
        if n_words < s.min_words:
            return "too_short", f"{n_words} words < {s.min_words}"
        if n_words > s.max_words:
            return "too_long", f"{n_words} words > {s.max_words}"
        if row.kind == "repository":
            return None  # code keeps its symbols and its own language
        if language is not None and allowed and language not in allowed:
            return "language", f"{language} not in {sorted(allowed)}"
        lines = [line.strip() for line in row.text.splitlines() if line.strip()]
        boiler = sum(1 for line in lines if _BOILERPLATE_LINE.match(line))
        if lines and boiler / len(lines) > s.max_boilerplate_ratio:
            return "boilerplate", f"{boiler} of {len(lines)} lines"
        visible = [c for c in row.text if not c.isspace()]
        if visible:
            symbols = sum(1 for c in visible if c in _SYMBOLS) / len(visible)
            if symbols > s.max_symbol_ratio:
                return "code_in_prose", f"{symbols:.0%} symbols"
            alpha = sum(1 for c in visible if c.isalpha()) / len(visible)
            if alpha < s.min_alpha_ratio:
                return "low_alpha", f"{alpha:.0%} letters"
        return None


class ExactDedup:
    """Drops a row whose normalised text hashes like an earlier row's (the first copy stays)."""

    name = "exact_dedup"

    def apply(self, rows: Sequence[Row]) -> tuple[list[Row], list[Drop]]:
        seen: dict[str, str] = {}
        kept, drops = [], []
        for row in rows:
            digest = hashlib.sha256(normalise(row.text).encode()).hexdigest()
            if digest in seen:
                drops.append(Drop(row.row_id, "exact_duplicate", f"same text as {seen[digest]}"))
            else:
                seen[digest] = row.row_id
                kept.append(row)
        return kept, drops


class NearDedup:
    """MinHash LSH (datasketch) over word shingles: a row whose estimated Jaccard similarity with a kept row
    reaches the threshold is dropped."""

    name = "near_dedup"

    def __init__(self, threshold: float = 0.8, num_perm: int = 128, shingle_words: int = 5, seed: int = 1):
        self.threshold = threshold
        self.num_perm = num_perm
        self.shingle_words = shingle_words
        self.seed = seed

    def minhash(self, text: str):
        from datasketch import MinHash

        m = MinHash(num_perm=self.num_perm, seed=self.seed)
        for shingle in ngrams(words(text), self.shingle_words):
            m.update(" ".join(shingle).encode())
        return m

    def apply(self, rows: Sequence[Row]) -> tuple[list[Row], list[Drop]]:
        from datasketch import MinHashLSH

        lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        hashes = {}
        kept, drops = [], []
        for row in rows:
            m = self.minhash(row.text)
            candidates = lsh.query(m)
            best = max(((hashes[c].jaccard(m), c) for c in candidates), default=None)
            if best is not None and best[0] >= self.threshold:
                drops.append(Drop(row.row_id, "near_duplicate", f"Jaccard ~{best[0]:.2f} with {best[1]}"))
                continue
            lsh.insert(row.row_id, m)
            hashes[row.row_id] = m
            kept.append(row)
        return kept, drops


class Decontaminate:
    """Drops a training row whose text or prompt overlaps an item of any evaluation set.

    `evaluation_sets`: every set the gate evaluates on (held-out passages, held-out questions, any benchmark), by
    name; the drop's reason names the set. Items are matched by word n-grams (one shared n-gram by default), except
    in `whole_item_sets` (questions written from templates, whose fixed words would collide across documents) and
    items shorter than n words: those match when the whole normalised item appears in the row.
    """

    name = "decontaminate"

    def __init__(
        self,
        evaluation_sets: Mapping[str, Iterable[str]],
        n: int = 13,
        min_overlap: int = 1,
        whole_item_sets: Iterable[str] = ("heldout_questions",),
    ):
        self.n = n
        self.min_overlap = min_overlap
        whole_sets = set(whole_item_sets)
        self.index: dict[tuple[str, ...], str] = {}
        self.whole_items: list[tuple[str, str]] = []  # (" normalised item ", set name)
        for set_name, texts in evaluation_sets.items():
            for text in texts:
                tokens = words(text)
                if set_name in whole_sets or len(tokens) < n:
                    if len(tokens) >= 3:  # shorter items match too much to mean anything
                        self.whole_items.append((f" {' '.join(tokens)} ", set_name))
                    continue
                for gram in ngrams(tokens, n):
                    self.index.setdefault(gram, set_name)

    def apply(self, rows: Sequence[Row]) -> tuple[list[Row], list[Drop]]:
        kept, drops = [], []
        for row in rows:
            hits: Counter[str] = Counter()
            for part in (row.text, row.prompt):
                tokens = words(part)
                for gram in ngrams(tokens, self.n) if len(tokens) >= self.n else ():
                    if gram in self.index:
                        hits[self.index[gram]] += 1
                padded = f" {' '.join(tokens)} "
                for item, set_name in self.whole_items:
                    if item in padded:
                        hits[set_name] += 1
            if sum(hits.values()) >= self.min_overlap:
                set_name = hits.most_common(1)[0][0]
                drops.append(Drop(row.row_id, f"contaminated:{set_name}", f"{sum(hits.values())} overlaps"))
            else:
                kept.append(row)
        return kept, drops


def default_steps(settings: CurationSettings, evaluation_sets: Mapping[str, Iterable[str]]) -> list[CurationStep]:
    return [
        RuleFilter(settings),
        ExactDedup(),
        NearDedup(settings.near_dup_threshold, settings.near_dup_num_perm, settings.shingle_words),
        Decontaminate(evaluation_sets, settings.decontamination_ngram, settings.decontamination_min_overlap),
    ]
