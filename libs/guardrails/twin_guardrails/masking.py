"""Masking with a per-request reverse map, and unmasking the answer for the caller who sent the values.

A value becomes a placeholder `[EMAIL_ADDRESS_1]`, `[SECRET_2]`...: numbered per entity type, the same value the
same placeholder within one request. The masked text is what reaches the model, the cache key, the request log
and every span; the reverse map (placeholder -> value) lives only in the request and unmasks the answer on its
way back to the caller. A streamed answer is unmasked piece by piece: a piece that ends inside a possible
placeholder is held back until the placeholder is complete.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from twin_guardrails.pii import Finding

PLACEHOLDER = re.compile(r"\[([A-Z_]+)_(\d+)\]")
_PLACEHOLDER_PREFIX = re.compile(r"\[[A-Z_]*\d*$")
_MAX_PLACEHOLDER = 40


@dataclass
class MaskedText:
    text: str
    reverse_map: dict[str, str] = field(default_factory=dict)  # placeholder -> original value
    entities: dict[str, int] = field(default_factory=dict)  # entity type -> values masked

    @property
    def masked(self) -> bool:
        return bool(self.reverse_map)


def mask(text: str, findings: Iterable[Finding], reverse_map: dict[str, str] | None = None) -> MaskedText:
    """Replace each finding by its placeholder. Pass an existing reverse map to keep numbering across texts of one
    request (e.g. earlier chat turns)."""
    reverse = dict(reverse_map or {})
    by_value = {value: placeholder for placeholder, value in reverse.items()}
    counters: dict[str, int] = {}
    for placeholder in reverse:
        match = PLACEHOLDER.fullmatch(placeholder)
        if match:
            counters[match.group(1)] = max(counters.get(match.group(1), 0), int(match.group(2)))
    pieces: list[str] = []
    entities: dict[str, int] = {}
    cursor = 0
    for finding in sorted(findings, key=lambda f: f.start):
        if finding.start < cursor:
            continue  # overlaps the previous one (callers pass non-overlapping findings)
        value = text[finding.start : finding.end]
        placeholder = by_value.get(value)
        if placeholder is None:
            counters[finding.entity] = counters.get(finding.entity, 0) + 1
            placeholder = f"[{finding.entity}_{counters[finding.entity]}]"
            reverse[placeholder] = value
            by_value[value] = placeholder
        entities[finding.entity] = entities.get(finding.entity, 0) + 1
        pieces.append(text[cursor : finding.start])
        pieces.append(placeholder)
        cursor = finding.end
    pieces.append(text[cursor:])
    return MaskedText("".join(pieces), reverse, entities)


def unmask(text: str, reverse_map: dict[str, str]) -> str:
    """Put the caller's own values back (placeholders the map does not know stay as they are)."""
    if not reverse_map or "[" not in text:
        return text
    return PLACEHOLDER.sub(lambda m: reverse_map.get(m.group(0), m.group(0)), text)


class StreamUnmasker:
    """Unmasks a streamed answer: `feed(piece)` returns what can go out now, `flush()` the rest at the end."""

    def __init__(self, reverse_map: dict[str, str]):
        self.reverse_map = reverse_map
        self._pending = ""

    def feed(self, piece: str) -> str:
        if not self.reverse_map:
            return piece
        text = self._pending + piece
        held = _PLACEHOLDER_PREFIX.search(text[-_MAX_PLACEHOLDER:])
        if held:
            cut = len(text) - (len(text[-_MAX_PLACEHOLDER:]) - held.start())
            text, self._pending = text[:cut], text[cut:]
        else:
            self._pending = ""
        return unmask(text, self.reverse_map)

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return unmask(text, self.reverse_map)
