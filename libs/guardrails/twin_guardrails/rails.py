"""All the rails of one process, sharing their models: Presidio with spaCy, the injection classifier and the
toxicity model are loaded once (about 10 s together) and used by the input, retrieval and output rails."""

from __future__ import annotations

from twin_guardrails.injection import InjectionDetector
from twin_guardrails.input_rails import InputRails
from twin_guardrails.observe import GuardrailMetrics
from twin_guardrails.output_rails import OutputRails
from twin_guardrails.pii import PiiDetector
from twin_guardrails.retrieval_rail import RetrievalRail
from twin_guardrails.settings import GuardrailSettings
from twin_guardrails.toxicity import ToxicityDetector


class Guardrails:
    def __init__(self, settings: GuardrailSettings | None = None, metrics: GuardrailMetrics | None = None):
        self.settings = settings or GuardrailSettings()
        self.metrics = metrics or GuardrailMetrics()
        pii = PiiDetector(self.settings)
        injection = InjectionDetector()
        toxicity = ToxicityDetector()
        self.input = InputRails(self.settings, pii=pii, injection=injection, toxicity=toxicity, metrics=self.metrics)
        self.retrieval = RetrievalRail(self.settings, injection=injection, metrics=self.metrics)
        self.output = OutputRails(self.settings, pii=pii, toxicity=toxicity, metrics=self.metrics)
        self.policies = self.input.policies

    def close(self) -> None:
        self.input.close()
