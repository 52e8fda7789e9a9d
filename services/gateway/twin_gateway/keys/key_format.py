"""API key format and hashing.

A key reads `twin_<id>_<secret>`: `id` is 12 hex characters (public: lists, logs, spans), `secret` 43 URL-safe
characters (256 bits). The database holds HMAC-SHA256(pepper, key) only; the pepper lives outside it
(TWIN_KEYS_PEPPER), so a copy of the table alone cannot test guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "twin"
_KEY = re.compile(r"^twin_([a-f0-9]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    clear: str


def new_key() -> ParsedKey:
    key_id = secrets.token_hex(6)
    return ParsedKey(key_id, f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}")


def parse_key(clear: str) -> ParsedKey | None:
    """The key's id, or None when the text is not shaped like one of our keys."""
    match = _KEY.match(clear)
    return ParsedKey(match.group(1), clear) if match else None


def hash_key(pepper: bytes, clear: str) -> bytes:
    return hmac.new(pepper, clear.encode("utf-8"), hashlib.sha256).digest()


def matches(pepper: bytes, clear: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_key(pepper, clear), bytes(stored_hash))
