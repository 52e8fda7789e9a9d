"""Limits on a prompt: length in characters, tokens, and the tenant's allowed languages (py3langid).

Tokens are estimated without the serving model's tokenizer (the gateway does not load it): one token per word and
per punctuation mark, plus one per 4 characters of words longer than 8, which stays at or above the count of
Llama-style BPE tokenizers on English prose. Language is checked only on texts long enough for py3langid to be
reliable (`language_min_chars`) and only when it is confident; shorter or ambiguous texts pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from twin_guardrails.settings import GuardrailSettings, TenantPolicy

_WORD_OR_MARK = re.compile(r"\w+|[^\w\s]")


def estimate_tokens(text: str) -> int:
    count = 0
    for match in _WORD_OR_MARK.finditer(text):
        length = match.end() - match.start()
        count += 1 + (max(0, length - 8) + 3) // 4
    return count


@dataclass(frozen=True)
class LimitViolation:
    limit: str  # "max_chars" | "max_tokens" | "language"
    detail: str  # e.g. "9120 > 8000 characters", "language de not in [en]"


class LimitsChecker:
    def __init__(self, settings: GuardrailSettings):
        self.settings = settings
        self._identifier = None

    def _language(self, text: str) -> tuple[str, float]:
        if self._identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        language, probability = self._identifier.classify(text)
        return language, float(probability)

    def check(self, text: str, policy: TenantPolicy) -> LimitViolation | None:
        if len(text) > policy.max_chars:
            return LimitViolation("max_chars", f"{len(text)} > {policy.max_chars} characters")
        tokens = estimate_tokens(text)
        if tokens > policy.max_tokens:
            return LimitViolation("max_tokens", f"about {tokens} > {policy.max_tokens} tokens")
        if policy.languages and len(text) >= self.settings.language_min_chars:
            language, probability = self._language(text)
            if language not in policy.languages and probability >= self.settings.language_min_confidence:
                return LimitViolation("language", f"language {language} not in {list(policy.languages)}")
        return None
