"""What feedback needs of an answered request (its tenant, key, question, answer, model), kept in Redis for
`TWIN_REQUEST_LOG_RECORD_TTL_S`: any replica can check that a rated request belongs to the caller's tenant and
attach the question and answer to the FeedbackGiven event, without reading the request log back."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import redis.asyncio as aioredis

PREFIX = "twin:gateway:request"


@dataclass(frozen=True)
class RequestRecord:
    request_id: str
    tenant_id: str
    key_id: str
    question: str  # the masked form, as logged
    answer: str
    model: str | None
    model_version: str | None


class RequestRecords:
    def __init__(self, redis: aioredis.Redis, ttl_s: int):
        self.redis = redis
        self.ttl_s = ttl_s

    async def save(self, record: RequestRecord) -> None:
        await self.redis.set(f"{PREFIX}:{record.request_id}", json.dumps(asdict(record)), ex=self.ttl_s)

    async def get(self, request_id: str) -> RequestRecord | None:
        raw = await self.redis.get(f"{PREFIX}:{request_id}")
        return RequestRecord(**json.loads(raw)) if raw else None
