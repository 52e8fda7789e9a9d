import hashlib
import re

import numpy as np
import pytest
from twin_common.documents import DocumentRow


class HashingEmbedder:
    """Unit-test embedder: a normalised bag of hashed words (similar texts -> similar vectors)."""

    model_name = "hashing-test"
    model_version = "1"
    dimension = 64

    def count_tokens(self, text: str) -> int:
        return len(re.findall(r"\w+|[^\w\s]", text))

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out


@pytest.fixture
def embedder():
    return HashingEmbedder()


@pytest.fixture
def make_doc():
    def make(
        doc_id: str,
        content: str,
        tenant: str = "acme",
        kind: str = "article",
        title: str = "",
        tags=(),
        author: str = "ann",
    ):
        return DocumentRow(
            id=doc_id,
            tenant_id=tenant,
            author_id=author,
            kind=kind,
            external_id=doc_id,
            title=title,
            content=content,
            tags=list(tags),
            content_hash=hashlib.sha1(content.encode()).hexdigest(),
        )

    return make
