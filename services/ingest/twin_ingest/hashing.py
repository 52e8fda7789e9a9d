"""The content hash that makes ingest idempotent: same material, same hash; any change, a new hash."""

from __future__ import annotations

import hashlib
import json

from twin_ingest.model import SourceDocument


def content_hash(document: SourceDocument) -> str:
    """sha256 over the document's material (kind, title, url, content, language, tags, metadata)."""
    material = {
        "kind": document.kind.value,
        "title": document.title,
        "url": document.url,
        "content": document.content,
        "language": document.language,
        "tags": list(document.tags),
        "metadata": document.metadata,
    }
    canonical = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
