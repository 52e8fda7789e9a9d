"""Per-key quotas in Redis, shared by every gateway replica: a token bucket on requests, a token bucket on
model tokens (prompt + completion) and a concurrency limit.

Each check is one Lua script (atomic, Redis's own clock, so replicas with skewed clocks agree):
- `admit`: refill both buckets; refuse when the request bucket has less than one request, when the token bucket
  is empty (at or below zero: the tokens of an answer are only known afterwards, so a request is admitted while
  any remain and its tokens are charged when it ends), or when the key already holds `max_concurrent` slots;
  otherwise take one request and a concurrency slot.
- `release`: give the slot back and charge the tokens the request used.
Slots are leased (`slot_lease_s`): a replica that dies holding some frees them when the lease runs out.
Plain Redis commands only (works on redis-server 7.0 and redis-stack alike).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from twin_gateway.settings import QuotaSettings

_REFILL = """
local function refill(key, rate, burst, now)
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1])
  local ts = tonumber(state[2])
  if tokens == nil then
    return burst
  end
  return math.min(burst, tokens + math.max(0, now - ts) * rate)
end
local function store(key, tokens, now, rate, burst)
  redis.call('HSET', key, 'tokens', tokens, 'ts', now)
  redis.call('PEXPIRE', key, math.ceil(math.max(burst, burst - tokens) / rate) + 1000)
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

ADMIT = (
    _REFILL
    + """
local req_rate, req_burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tok_rate, tok_burst = tonumber(ARGV[3]), tonumber(ARGV[4])
local max_slots, lease_ms, request_id = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local requests = refill(KEYS[1], req_rate, req_burst, now)
if requests < 1 then
  return {0, 'requests_per_minute', math.ceil((1 - requests) / req_rate)}
end
local tokens = refill(KEYS[2], tok_rate, tok_burst, now)
if tokens <= 0 then
  return {0, 'tokens_per_minute', math.ceil((1 - tokens) / tok_rate)}
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - lease_ms)
if redis.call('ZCARD', KEYS[3]) >= max_slots then
  return {0, 'max_concurrent', 1000}
end
store(KEYS[1], requests - 1, now, req_rate, req_burst)
store(KEYS[2], tokens, now, tok_rate, tok_burst)
redis.call('ZADD', KEYS[3], now, request_id)
redis.call('PEXPIRE', KEYS[3], lease_ms)
return {1, '', 0}
"""
)

RELEASE = (
    _REFILL
    + """
local tok_rate, tok_burst, used, request_id = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREM', KEYS[2], request_id)
if used > 0 then
  local tokens = refill(KEYS[1], tok_rate, tok_burst, now)
  store(KEYS[1], math.max(-tok_burst, tokens - used), now, tok_rate, tok_burst)
end
return 1
"""
)


@dataclass(frozen=True)
class Limits:
    requests_per_minute: int
    request_burst: int
    tokens_per_minute: int
    token_burst: int
    max_concurrent: int


@dataclass(frozen=True)
class Decision:
    admitted: bool
    limit: str = ""  # which limit refused: requests_per_minute | tokens_per_minute | max_concurrent
    retry_after_s: float = 0.0


class QuotaLimiter:
    def __init__(self, redis: aioredis.Redis, settings: QuotaSettings):
        self.redis = redis
        self.settings = settings
        self._admit = redis.register_script(ADMIT)
        self._release = redis.register_script(RELEASE)

    def limits(
        self,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        max_concurrent: int | None = None,
    ) -> Limits:
        s = self.settings
        rpm = requests_per_minute or s.requests_per_minute
        tpm = tokens_per_minute or s.tokens_per_minute
        return Limits(
            requests_per_minute=rpm,
            request_burst=rpm if requests_per_minute else (s.request_burst or rpm),
            tokens_per_minute=tpm,
            token_burst=tpm if tokens_per_minute else (s.token_burst or tpm),
            max_concurrent=max_concurrent or s.max_concurrent,
        )

    def _keys(self, key_id: str) -> tuple[str, str, str]:
        base = f"{self.settings.key_prefix}:{{{key_id}}}"  # one hash slot per key on a Redis cluster
        return f"{base}:requests", f"{base}:tokens", f"{base}:slots"

    async def admit(self, key_id: str, request_id: str, limits: Limits) -> Decision:
        requests, tokens, slots = self._keys(key_id)
        admitted, limit, retry_ms = await self._admit(
            keys=[requests, tokens, slots],
            args=[
                limits.requests_per_minute / 60_000,
                limits.request_burst,
                limits.tokens_per_minute / 60_000,
                limits.token_burst,
                limits.max_concurrent,
                int(self.settings.slot_lease_s * 1000),
                request_id,
            ],
        )
        limit = limit.decode() if isinstance(limit, bytes) else limit
        return Decision(bool(admitted), limit, int(retry_ms) / 1000)

    async def release(self, key_id: str, request_id: str, limits: Limits, tokens_used: int) -> None:
        _, tokens, slots = self._keys(key_id)
        await self._release(
            keys=[tokens, slots],
            args=[limits.tokens_per_minute / 60_000, limits.token_burst, max(0, tokens_used), request_id],
        )
