"""Toxicity: alt-profanity-check's linear SVM (offensive language) plus rules for what a profanity model cannot see:
threats of violence against a person, telling someone to die or kill themselves, and dehumanising a group.

alt-profanity-check pins scikit-learn 1.9.1 and joblib 1.6.0 exactly (the binding pin of the stack); importing it
loads its model (about 5 s), so the detector is built once per process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FLAGS = re.IGNORECASE
RULES: dict[str, tuple[re.Pattern[str], ...]] = {
    "threat": (
        re.compile(
            r"\b(?:i(?:'m| am)? (?:going to|gonna)|i(?:'ll| will)|we(?:'ll| will)|gonna)\s+(?:find|kill|hurt|beat|shoot|stab|murder|rape|destroy)\s+(?:you|her|him|them)\b",
            _FLAGS,
        ),
        re.compile(
            r"\b(?:should|deserves? to|must|ought to|needs? to)\s+(?:just\s+)?(?:die|be\s+(?:\w+\s+){0,3}?(?:killed|beaten|shot|hanged|exterminated|wiped out|tortured|raped))\b",
            _FLAGS,
        ),
        re.compile(r"\bkill (?:yourself|herself|himself|themselves|urself)\b|\bkys\b", _FLAGS),
        re.compile(r"\b(?:fuck off|piss off|go) and die\b|\bgo die\b", _FLAGS),
    ),
    "dehumanising": (
        re.compile(
            r"\b(?:are|is|be)\s+(?:(?:all|just|nothing but|disgusting|filthy|dirty)\s+)*(?:vermin|scum|subhuman|parasites|cockroaches|filth)\b",
            _FLAGS,
        ),
        re.compile(
            r"\b(?:should|must|deserve to) be (?:exterminated|eradicated|wiped out|gassed|deported and shot)\b", _FLAGS
        ),
        re.compile(
            r"\b(?:women|men|immigrants|foreigners|jews|muslims|christians|blacks|whites|gays)\b[^.!?\n]{0,20}\b(?:are|is) too (?:stupid|dumb|inferior)\b",
            _FLAGS,
        ),
    ),
}


@dataclass(frozen=True)
class ToxicityScore:
    score: float  # the highest of the classifier probability and 1.0 for a rule hit
    classifier: float
    rule: str | None = None


_WORDS = re.compile(r"[a-z]+")
# words the rules above key on, besides the model's own strongly offensive words
_RULE_TRIGGERS = frozenset(
    "kill die murder shoot stab rape exterminated eradicated vermin scum subhuman parasites".split()
)


class ToxicityDetector:
    def __init__(self, trigger_weight: float = 2.0) -> None:
        import numpy as np
        from profanity_check import predict_prob
        from profanity_check import profanity_check as model

        self._predict_prob = predict_prob
        self._vectorizer = model.vectorizer
        # The model is scikit-learn's CalibratedClassifierCV over five LinearSVCs with sigmoid calibration: its
        # probability is the mean of expit(-(a * (w.x + c) + b)) over the five. Computed here as one sparse product
        # it is the same number (tests/unit/guardrails checks equality on the labelled set) in 0.5 ms instead of
        # 4 ms of scikit-learn's per-call overhead; any other model shape falls back to predict_prob.
        calibrated = model.model.calibrated_classifiers_
        self._linear = None
        if getattr(model.model, "method", None) == "sigmoid" and all(
            len(c.calibrators) == 1 and hasattr(c.estimator, "coef_") for c in calibrated
        ):
            self._linear = (
                np.stack([c.estimator.coef_[0] for c in calibrated], axis=1),
                np.array([c.estimator.intercept_[0] for c in calibrated]),
                np.array([c.calibrators[0].a_ for c in calibrated]),
                np.array([c.calibrators[0].b_ for c in calibrated]),
            )
        # The SVMs score single words: the words with a large positive weight are the ones that can turn a text
        # offensive. A streamed answer is fully checked as soon as one of them appears (else at sentence ends), so
        # an offensive word is seen before it is released.
        weights = np.mean([c.estimator.coef_[0] for c in calibrated], axis=0)
        vocabulary = model.vectorizer.vocabulary_
        self.triggers = frozenset(w for w, i in vocabulary.items() if weights[i] >= trigger_weight) | _RULE_TRIGGERS

    def probabilities(self, texts: list[str]) -> list[float]:
        if self._linear is None:
            return [float(p) for p in self._predict_prob(texts)]
        import numpy as np
        from scipy.special import expit

        weights, intercepts, a, b = self._linear
        decisions = np.asarray(self._vectorizer.transform(texts) @ weights) + intercepts
        return [float(p) for p in expit(-(a * decisions + b)).mean(axis=1)]

    def has_trigger(self, text: str) -> bool:
        return any(word in self.triggers for word in _WORDS.findall(text.lower()))

    def score(self, text: str) -> ToxicityScore:
        return self.score_many([text])[0]

    def score_many(self, texts: list[str]) -> list[ToxicityScore]:
        if not texts:
            return []
        probabilities = self.probabilities(texts)
        scores = []
        for text, probability in zip(texts, probabilities, strict=True):
            rule = next((name for name, patterns in RULES.items() if any(p.search(text) for p in patterns)), None)
            scores.append(ToxicityScore(1.0 if rule else probability, probability, rule))
        return scores
