"""Stylometry: how a text is written, independent of what it says.

- `StyleFeatures`: mean sentence length, type-token ratio (over 100-word windows), punctuation per word, and the
  relative frequencies of the 70 function words Mosteller and Wallace used to attribute the disputed Federalist
  papers (1964).
- `profile_similarity`: generated texts against the author's held-out text, in [0, 1].
- `AuthorClassifier`: logistic regression on function-word frequencies, the author against contrast authors (for
  Hamilton: Madison). Its probability of "the author" on generated text is a style judge that needs no LLM.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from twin_trainer.llm.curation import words

# Mosteller & Wallace (1964), the 70 function words of their Federalist study.
FUNCTION_WORDS = (
    "a all also an and any are as at be been but by can do down even every for from had has have her his if in "
    "into is it its may more must my no not now of on one only or our shall should so some such than that the "
    "their then there things this to up upon was were what when which who will with would your"
).split()
PUNCTUATION = ',;:!?()"—-'
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)|\n\s*\n")
TTR_WINDOW = 100


@dataclass(frozen=True)
class StyleFeatures:
    mean_sentence_words: float
    type_token_ratio: float
    punctuation_per_word: tuple[float, ...]  # one rate per PUNCTUATION character
    function_words: tuple[float, ...]  # per 1,000 words, in FUNCTION_WORDS order
    n_words: int

    @classmethod
    def of(cls, text: str) -> StyleFeatures:
        tokens = words(text)
        n = len(tokens)
        if n == 0:
            return cls(0.0, 0.0, (0.0,) * len(PUNCTUATION), (0.0,) * len(FUNCTION_WORDS), 0)
        sentences = [s for s in _SENTENCE_END.split(text) if words(s)]
        windows = [tokens[i : i + TTR_WINDOW] for i in range(0, n, TTR_WINDOW)]
        if len(windows) > 1 and len(windows[-1]) < TTR_WINDOW:
            windows.pop()
        ttr = sum(len(set(w)) / len(w) for w in windows) / len(windows)
        counts: dict[str, int] = {}
        for t in tokens:
            counts[t] = counts.get(t, 0) + 1
        return cls(
            mean_sentence_words=n / max(1, len(sentences)),
            type_token_ratio=ttr,
            punctuation_per_word=tuple(text.count(c) / n for c in PUNCTUATION),
            function_words=tuple(1000.0 * counts.get(w, 0) / n for w in FUNCTION_WORDS),
            n_words=n,
        )

    def scalars(self) -> np.ndarray:
        return np.array([self.mean_sentence_words, self.type_token_ratio, *self.punctuation_per_word])


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(a @ b / (na * nb)) if na and nb else 0.0


def profile_similarity(generated: Sequence[str], reference: Sequence[str]) -> float:
    """How close generated texts are to the reference texts' style, in [0, 1].

    Mean of: for each scalar feature, exp(-|generated mean - reference mean| / reference std); and the cosine of
    the pooled function-word profiles. 1 means indistinguishable on these features.
    """
    gen = [StyleFeatures.of(t) for t in generated if words(t)]
    ref = [StyleFeatures.of(t) for t in reference if words(t)]
    if not gen or not ref:
        return 0.0
    g = np.stack([f.scalars() for f in gen]).mean(axis=0)
    r_all = np.stack([f.scalars() for f in ref])
    r, spread = r_all.mean(axis=0), r_all.std(axis=0) + 1e-3 + 0.1 * np.abs(r_all.mean(axis=0))
    scalar_scores = np.exp(-np.abs(g - r) / spread)
    fw_gen = np.stack([np.array(f.function_words) * f.n_words for f in gen]).sum(axis=0)
    fw_ref = np.stack([np.array(f.function_words) * f.n_words for f in ref]).sum(axis=0)
    return float(np.mean([*scalar_scores.tolist(), _cosine(fw_gen, fw_ref)]))


class AuthorClassifier:
    """P(author | text) from function-word frequencies: standardised, logistic regression, balanced classes."""

    def __init__(self, author_texts: Sequence[str], contrast_texts: Sequence[str], c: float = 1.0):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if not author_texts or not contrast_texts:
            raise ValueError("the classifier needs texts of the author and of at least one contrast author")
        x = np.stack([self.features(t) for t in [*author_texts, *contrast_texts]])
        y = np.array([1] * len(author_texts) + [0] * len(contrast_texts))
        self.model = make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=2000))
        self.model.fit(x, y)
        self.n_author, self.n_contrast = len(author_texts), len(contrast_texts)

    @staticmethod
    def features(text: str) -> np.ndarray:
        return np.array(StyleFeatures.of(text).function_words)

    def p_author(self, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        return self.model.predict_proba(np.stack([self.features(t) for t in texts]))[:, 1].tolist()

    def accuracy(self, author_texts: Sequence[str], contrast_texts: Sequence[str]) -> float:
        p = self.p_author([*author_texts, *contrast_texts])
        truth = [1] * len(author_texts) + [0] * len(contrast_texts)
        right = sum(1 for prob, t in zip(p, truth, strict=True) if (prob >= 0.5) == bool(t))
        return right / len(truth) if truth else math.nan
