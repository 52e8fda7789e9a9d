"""Secrets people paste by mistake: cloud access keys, API tokens, private keys, passwords in connection strings
and in plain sentences.

Token formats come from detect-secrets' own regex plugins (AWS, GitHub, GitLab, Slack, Stripe, SendGrid, npm, JWT,
OpenAI, Azure storage, Twilio, Discord, ...), used for their patterns only (their scan machinery is file-oriented
and global). What they do not cover is added as precise patterns: whole PEM private-key blocks (detect-secrets
only sees the header), passwords in URLs, ADO/JDBC strings and assignments, Google API keys, current OpenAI keys,
this platform's own API keys, and a long high-entropy token right after a word such as "key" or "token".
Each finding is the value's span (not the keyword's), extended to the end of the token it starts.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache

from detect_secrets.plugins.base import RegexBasedDetector


@dataclass(frozen=True)
class SecretFinding:
    kind: str  # e.g. "AWS Access Key", "Password", "Private Key"
    start: int
    end: int
    score: float


# detect-secrets plugins left out: public IPs (the PII rail's IP_ADDRESS), private keys (whole blocks below),
# keyword/entropy plugins (not regex-based; our assignment and keyword-entropy patterns replace them).
_SKIPPED_PLUGINS = frozenset({"IPPublicDetector", "PrivateKeyDetector"})

_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-+/=.~]*")
_TRAILING = ".,;:)]}>'\""

_PASSWORD_WORDS = r"(?:password|passwd|pwd|passphrase|passcode|secret|token|api_?key|access_?key|secret_?key)"
_PATTERNS: tuple[tuple[str, re.Pattern[str], float], ...] = (
    (
        "Private Key",
        re.compile(
            r"-----BEGIN (?P<kind>(?:[A-Z0-9]+ )*)PRIVATE KEY(?P<block> BLOCK|)-----.*?"
            r"(?:-----END (?P=kind)PRIVATE KEY(?P=block)-----|\Z)",
            re.DOTALL,
        ),
        1.0,
    ),
    ("Private Key", re.compile(r"PuTTY-User-Key-File-\d+:.*?(?:Private-MAC: [0-9a-f]+|\Z)", re.DOTALL), 1.0),
    # scheme://user:password@host
    ("Password", re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s:/@]*:(?P<v>[^\s@/]{3,})@[^\s]"), 1.0),
    # Password=...; (ADO.NET), ?password=...& (JDBC, query strings)
    ("Password", re.compile(r"(?i)(?:^|[;?&\s])(?:password|pwd)=(?P<v>[^;&\s]{3,})"), 1.0),
    # assignments: DB_PASSWORD=..., password: "...", aws_secret_access_key = ..., PGPASSWORD='...'
    (
        "Password",
        re.compile(rf"(?i)\b[A-Za-z0-9_.\-]*{_PASSWORD_WORDS}[A-Za-z0-9_]*[\"']?\s*[:=]\s*[\"']?(?P<v>[^\s\"']{{4,}})"),
        0.9,
    ),
    # prose: "my password is hunter2", "the wifi password was ..."
    (
        "Password",
        re.compile(r"(?i)\b(?:password|passphrase|passcode)\s+(?:is|was|=|:)\s+[\"']?(?P<v>[^\s\"']{4,})"),
        0.9,
    ),
    ("Google API Key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"), 1.0),
    ("OpenAI Token", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{32,}"), 1.0),
    ("Twin API Key", re.compile(r"\btwin_[a-f0-9]{12}_[A-Za-z0-9_\-]{43}"), 1.0),
    ("Stripe Key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}"), 1.0),
    ("GitLab Token", re.compile(r"\bglpat-[0-9A-Za-z_\-]{20,}"), 1.0),
)
# a long random-looking token within a few words after "key", "token", "secret", "bearer" or "credential"
_KEYWORD_TOKEN = re.compile(
    r"(?i)(?:\b|_)(?:api[ _-]?)?(?:keys?|tokens?|secrets?|bearer|credentials?|key_id)\b[^\n]{0,24}?(?P<v>[A-Za-z0-9][A-Za-z0-9_\-+/=.]{19,})"
)


def shannon_entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _looks_random(token: str) -> bool:
    has_digit = any(c.isdigit() for c in token)
    has_alpha = any(c.isalpha() for c in token)
    return has_digit and has_alpha and shannon_entropy(token) >= 3.5 and "://" not in token


@cache
def _plugin_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    patterns = []
    for plugin in RegexBasedDetector.__subclasses__():
        if plugin.__name__ in _SKIPPED_PLUGINS:
            continue
        for regex in plugin.denylist:  # class attribute: compiled patterns
            patterns.append((plugin.secret_type, regex))
    return tuple(patterns)


def _load_plugins() -> None:
    # importing the plugin modules registers the RegexBasedDetector subclasses
    import detect_secrets.plugins  # noqa: F401
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    get_mapping_from_secret_type_to_class()


def _extend(text: str, start: int, end: int) -> tuple[int, int]:
    """Grow a match to the end of the token it starts, and drop trailing punctuation."""
    match = _TOKEN_CHARS.match(text, end)
    end = match.end() if match else end
    while end > start and text[end - 1] in _TRAILING:
        end -= 1
    return start, end


def _value_span(match: re.Match[str]) -> tuple[int, int]:
    """Our patterns name the value `v`; detect-secrets' patterns capture it as group 1 when they capture at all."""
    if "v" in match.re.groupindex:
        return match.span("v")
    if match.re.groups and not match.re.groupindex and match.group(1) is not None:
        return match.span(1)
    return match.span()


class SecretScanner:
    """Finds secrets in text; thread-safe (compiled patterns only)."""

    def __init__(self) -> None:
        _load_plugins()
        self.plugin_patterns = _plugin_patterns()

    def scan(self, text: str) -> list[SecretFinding]:
        found: list[SecretFinding] = []
        for kind, regex, score in _PATTERNS:
            for match in regex.finditer(text):
                start, end = _value_span(match)
                if kind != "Private Key":
                    start, end = _extend(text, start, end)
                if end > start:
                    found.append(SecretFinding(kind, start, end, score))
        for kind, regex in self.plugin_patterns:
            for match in regex.finditer(text):
                start, end = _extend(text, *_value_span(match))
                if end - start >= 8:
                    found.append(SecretFinding(kind, start, end, 1.0))
        for match in _KEYWORD_TOKEN.finditer(text):
            start, end = _extend(text, *_value_span(match))
            if _looks_random(text[start:end]):
                found.append(SecretFinding("High Entropy Token", start, end, 0.8))
        return _without_overlaps(found)


def _without_overlaps(findings: list[SecretFinding]) -> list[SecretFinding]:
    """Keep the longest of overlapping findings (a PEM block over a key id inside it, etc.)."""
    kept: list[SecretFinding] = []
    for finding in sorted(findings, key=lambda f: (-(f.end - f.start), -f.score)):
        if all(finding.end <= k.start or finding.start >= k.end for k in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)
