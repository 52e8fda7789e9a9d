"""Presidio recognisers with checksums where Presidio's own are weak, and the secrets scanner as a recogniser.

- `PhoneNumberRecognizer`: libphonenumber's matcher across the configured regions: valid numbers score 0.9, numbers
  written in international form (+CC ...) that are merely possible (e.g. ranges reserved for fiction) 0.7;
  Presidio's PhoneRecognizer scores phones 0.4, below any sensible threshold.
- `LuhnCardRecognizer`: 13-19 digits with spaces or dashes, a card network's leading digit (2-6) and a valid Luhn
  checksum (python-stdnum); an order number that fails the checksum passes.
- `IbanChecksumRecognizer`: IBAN shapes validated by python-stdnum (country length and mod-97 checksum).
- `OfflineEmailRecognizer`: Presidio's email pattern, its domain validated with tldextract's bundled suffix list
  (Presidio's version downloads the list on first use; nothing here may reach the network).
- `SecretsRecognizer`: `twin_guardrails.secrets.SecretScanner` under the entity SECRET.
"""

from __future__ import annotations

import re

import phonenumbers
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import EmailRecognizer
from stdnum import iban, luhn

from twin_guardrails.secrets import SecretScanner

SECRET = "SECRET"


class PhoneNumberRecognizer(EntityRecognizer):
    ENTITY = "PHONE_NUMBER"

    def __init__(self, regions: tuple[str, ...] = ("US", "GB"), score: float = 0.9, possible_score: float = 0.7):
        self.regions = regions
        self.score = score
        self.possible_score = possible_score
        super().__init__(supported_entities=[self.ENTITY], name="PhoneNumberRecognizer", supported_language="en")

    def load(self) -> None:
        return None

    def analyze(self, text, entities, nlp_artifacts=None):
        if sum(c.isdigit() for c in text) < 7:
            return []
        results: list[RecognizerResult] = []
        taken: list[tuple[int, int]] = []
        for region in self.regions:
            for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
                if any(match.start < end and match.end > start for start, end in taken):
                    continue
                taken.append((match.start, match.end))
                results.append(RecognizerResult(self.ENTITY, match.start, match.end, self.score))
        # "+CC ..." is a phone number by its form even where the range is not allocated (e.g. +44 7700 900xxx)
        for match in phonenumbers.PhoneNumberMatcher(text, None, leniency=phonenumbers.Leniency.POSSIBLE):
            if match.raw_string.startswith("+") and not any(
                match.start < end and match.end > start for start, end in taken
            ):
                taken.append((match.start, match.end))
                results.append(RecognizerResult(self.ENTITY, match.start, match.end, self.possible_score))
        return results


_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")


class LuhnCardRecognizer(EntityRecognizer):
    ENTITY = "CREDIT_CARD"

    def __init__(self):
        super().__init__(supported_entities=[self.ENTITY], name="LuhnCardRecognizer", supported_language="en")

    def load(self) -> None:
        return None

    def analyze(self, text, entities, nlp_artifacts=None):
        results = []
        for match in _CARD.finditer(text):
            digits = re.sub(r"[ -]", "", match.group())
            if 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn.is_valid(digits):
                results.append(RecognizerResult(self.ENTITY, match.start(), match.end(), 1.0))
        return results


_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")


class IbanChecksumRecognizer(EntityRecognizer):
    ENTITY = "IBAN_CODE"

    def __init__(self):
        super().__init__(supported_entities=[self.ENTITY], name="IbanChecksumRecognizer", supported_language="en")

    def load(self) -> None:
        return None

    def analyze(self, text, entities, nlp_artifacts=None):
        results = []
        for match in _IBAN.finditer(text):
            candidate = match.group()
            # the regex may run into the next word ("... 3000 and"): shrink from the right until it validates
            while len(candidate.replace(" ", "")) >= 15:
                if iban.is_valid(candidate):
                    results.append(RecognizerResult(self.ENTITY, match.start(), match.start() + len(candidate), 1.0))
                    break
                candidate = candidate[:-1].rstrip()
        return results


# Reserved top-level names (RFC 2606, RFC 6761) are not in the public suffix list but are real in documents,
# tests and intranets: an address there is still somebody's address.
RESERVED_TLDS = frozenset({"example", "test", "invalid", "localhost", "local", "internal", "lan", "corp", "home"})


class OfflineEmailRecognizer(EmailRecognizer):
    def __init__(self, extractor):
        self._extract = extractor
        super().__init__(name="OfflineEmailRecognizer")

    def validate_result(self, pattern_text: str):
        if pattern_text.rsplit(".", 1)[-1].lower() in RESERVED_TLDS:
            return True
        return self._extract(pattern_text).fqdn != ""


class SecretsRecognizer(EntityRecognizer):
    def __init__(self, scanner: SecretScanner | None = None):
        self.scanner = scanner or SecretScanner()
        super().__init__(supported_entities=[SECRET], name="SecretsRecognizer", supported_language="en")

    def load(self) -> None:
        return None

    def analyze(self, text, entities, nlp_artifacts=None):
        return [RecognizerResult(SECRET, f.start, f.end, f.score) for f in self.scanner.scan(text)]
