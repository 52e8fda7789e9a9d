"""The author ledger: each author's current documents and their statistics, in Redis.

Author features are aggregates over documents, and the pipeline sees one document change at a time. Counters
would drift under redelivery, so the ledger keeps the statistics of every live document of an author
(hash `<ns>:author-docs:<tenant>:<author>`, field = document id) and which author owns a document
(hash `<ns>:doc-author:<tenant>`). Writing a document's entry is a set or a delete, so a replay changes
nothing. The snapshot an aggregate is computed from is read together with the Redis clock in one transaction:
a later snapshot always carries a later time, so the online store (which keeps the newest row) never lets an
older aggregate overwrite a newer one when two workers race.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime

from twin_embedder.features import AuthorFeatures, DocumentFeatures, StyleStats


class RedisAuthorLedger:
    def __init__(self, client, namespace: str):
        self.client = client  # redis.Redis
        self.namespace = namespace

    def _docs_key(self, tenant_id: str, author_id: str) -> str:
        return f"{self.namespace}:author-docs:{tenant_id}:{author_id}"

    def _owner_key(self, tenant_id: str) -> str:
        return f"{self.namespace}:doc-author:{tenant_id}"

    def apply(self, changes: list[DocumentFeatures]) -> list[AuthorFeatures]:
        """Record the changes and return fresh features of every author they touched."""
        touched: set[tuple[str, str]] = set()
        for change in changes:
            owner_key = self._owner_key(change.tenant_id)
            previous = self.client.hget(owner_key, change.document_id)
            previous = previous.decode() if previous else None
            pipe = self.client.pipeline(transaction=True)
            if previous and (change.deleted or previous != change.author_id):
                pipe.hdel(self._docs_key(change.tenant_id, previous), change.document_id)
                touched.add((change.tenant_id, previous))
            if change.deleted:
                pipe.hdel(owner_key, change.document_id)
                if change.author_id:
                    pipe.hdel(self._docs_key(change.tenant_id, change.author_id), change.document_id)
                    touched.add((change.tenant_id, change.author_id))
            elif change.author_id:
                entry = {"token_count": change.token_count, "style": asdict(change.style)}
                pipe.hset(self._docs_key(change.tenant_id, change.author_id), change.document_id, json.dumps(entry))
                pipe.hset(owner_key, change.document_id, change.author_id)
                touched.add((change.tenant_id, change.author_id))
            pipe.execute()
        return [self.features(tenant, author) for tenant, author in sorted(touched)]

    def features(self, tenant_id: str, author_id: str) -> AuthorFeatures:
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(self._docs_key(tenant_id, author_id))
        pipe.time()
        entries, (seconds, micros) = pipe.execute()
        documents = []
        for document_id, raw in entries.items():
            entry = json.loads(raw)
            documents.append(
                DocumentFeatures(
                    tenant_id,
                    document_id.decode(),
                    author_id,
                    0,
                    entry["token_count"],
                    None,
                    None,
                    style=StyleStats(**entry["style"]),
                )
            )
        as_of = datetime.fromtimestamp(seconds + micros / 1e6, tz=UTC)
        return AuthorFeatures.aggregate(tenant_id, author_id, documents, as_of)

    def clear(self) -> None:
        """Remove every key of this namespace (tests, and a project being torn down)."""
        keys = list(self.client.scan_iter(match=f"{self.namespace}:*", count=1000))
        if keys:
            self.client.delete(*keys)
