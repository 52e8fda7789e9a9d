"""BEIR-format datasets (corpus.jsonl, queries.jsonl, qrels/*.tsv) and the deterministic query split.

The split keeps training honest: anything learned (the reranker) trains on `fit` queries only, and every
configuration is reported on `heldout` queries.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BeirDoc:
    doc_id: str
    title: str
    text: str


@dataclass(frozen=True)
class BeirDataset:
    name: str
    corpus: dict[str, BeirDoc]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]  # query id -> doc id -> relevance
    fingerprint: str

    def judged_queries(self) -> list[str]:
        return sorted((q for q in self.qrels if q in self.queries), key=_natural)


def _natural(value: str):
    return (0, int(value)) if value.isdigit() else (1, value)


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_beir(path: Path | str, qrels_split: str | None = None) -> BeirDataset:
    """Load a BEIR folder. qrels from qrels/<split>.tsv, or every qrels/*.tsv when no split is named."""
    root = Path(path)
    for required in ("corpus.jsonl", "queries.jsonl", "qrels"):
        if not (root / required).exists():
            raise FileNotFoundError(f"{root} is not a BEIR dataset: {required} is missing")
    digest = hashlib.sha1()
    corpus = {}
    for row in _read_jsonl(root / "corpus.jsonl"):
        corpus[str(row["_id"])] = BeirDoc(str(row["_id"]), row.get("title") or "", row.get("text") or "")
    digest.update((root / "corpus.jsonl").read_bytes())
    queries = {str(row["_id"]): row["text"] for row in _read_jsonl(root / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    files = [root / "qrels" / f"{qrels_split}.tsv"] if qrels_split else sorted((root / "qrels").glob("*.tsv"))
    for file in files:
        with file.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                score = int(row["score"])
                if score > 0:
                    qrels[str(row["query-id"])][str(row["corpus-id"])] = score
        digest.update(file.read_bytes())
    return BeirDataset(root.name, corpus, queries, dict(qrels), digest.hexdigest()[:16])


def split_queries(query_ids: list[str], heldout_fraction: float = 0.3) -> tuple[list[str], list[str]]:
    """(fit, heldout): a query is heldout when sha1(id) falls in the first `heldout_fraction` of the hash space."""
    if not 0 < heldout_fraction < 1:
        raise ValueError("heldout_fraction must be between 0 and 1")
    fit, heldout = [], []
    for qid in query_ids:
        bucket = int(hashlib.sha1(qid.encode()).hexdigest()[:8], 16) / 0x100000000
        (heldout if bucket < heldout_fraction else fit).append(qid)
    return fit, heldout
