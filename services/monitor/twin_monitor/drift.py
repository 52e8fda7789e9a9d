"""Evidently reports of one window against its reference: what is tested, with which method, and the results.

Two Evidently runs make one report, rendered on one page by Evidently's own renderer:
- **requests** (every row of both windows): `ValueDrift` on the numbers (latency, TTFT, TPOT, tokens), the
  categories (cache hit kind, route, model version, status, guardrail outcome, feedback), offline text descriptors
  of prompts and answers (length, word count, share of non-letters, refusal markers, citation count), and the raw
  prompt and answer texts through Evidently's domain classifier (TF-IDF + linear model, ROC AUC);
- **queries** (rows with a query embedding, sampled to `embedding_max_rows` a side): `EmbeddingsDrift` with the
  model (domain-classifier) method and the MMD method.

Everything here runs offline: no descriptor needs NLTK data or a model download.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from twin_monitor.settings import DriftSettings

log = logging.getLogger(__name__)

NUMERICAL_COLUMNS = ("latency_ms", "ttft_ms", "tpot_ms", "prompt_tokens", "completion_tokens")
CATEGORICAL_COLUMNS = ("cache_hit", "route", "model_version", "status", "guardrail_outcome", "feedback")
TEXT_COLUMNS = ("prompt", "response")
# descriptor column -> (source text column, kind)
DESCRIPTORS = {
    "prompt_length": ("prompt", "numerical"),
    "prompt_words": ("prompt", "numerical"),
    "prompt_non_letter_share": ("prompt", "numerical"),
    "response_length": ("response", "numerical"),
    "response_words": ("response", "numerical"),
    "response_refusal": ("response", "categorical"),
    "response_citations": ("response", "numerical"),
}
EMBEDDING = "query_embedding"
NO_FEEDBACK = "none"

# Evidently's stattests whose score is a p-value (drift when the score is below the threshold).
CHI2_HOMOGENEITY = "chi2_homogeneity"
P_VALUE_METHODS = frozenset(
    {
        CHI2_HOMOGENEITY,
        "ks",
        "chisquare",
        "z",
        "fisher_exact",
        "g_test",
        "mannw",
        "t_test",
        "anderson",
        "cramer_von_mises",
        "epps_singleton",
        "empirical_mmd",
    }
)

CITATION = re.compile(r"\[\d+\]")


def _chi2_homogeneity(reference_data: pd.Series, current_data: pd.Series, feature_type, threshold: float):
    """Two-sample chi-square test of homogeneity (scipy's chi2_contingency on the 2 x k table of counts).

    Evidently's own "chisquare" is a goodness-of-fit test against the reference's proportions taken as exact: it
    ignores the reference's own sampling noise and scores p = 0 whenever the current window holds a category the
    reference lacks (one neutral rating is enough), which raised a false alarm in most windows of unchanged traffic.
    """
    from scipy.stats import chi2_contingency

    ref, cur = reference_data.dropna().astype(str), current_data.dropna().astype(str)
    keys = sorted(set(ref) | set(cur))
    if len(keys) < 2 or ref.empty or cur.empty:
        return 1.0, False
    ref_counts, cur_counts = ref.value_counts(), cur.value_counts()
    table = [[int(ref_counts.get(k, 0)) for k in keys], [int(cur_counts.get(k, 0)) for k in keys]]
    p_value = float(chi2_contingency(table)[1])
    return p_value, p_value < threshold


def register_stattests() -> None:
    """Add the homogeneity test to Evidently's registry (idempotent; done by every DriftReportBuilder)."""
    from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
    from evidently.legacy.core import ColumnType

    register_stattest(
        StatTest(
            name=CHI2_HOMOGENEITY,
            display_name="chi-square homogeneity p_value",
            allowed_feature_types=[ColumnType.Categorical],
            default_threshold=0.05,
        ),
        _chi2_homogeneity,
    )


def count_citations(column):
    """Descriptor: how many numbered citations ([1], [2], ...) an answer holds (the gateway's citation format)."""
    from evidently.core.datasets import DatasetColumn
    from evidently.legacy.core import ColumnType

    return DatasetColumn(ColumnType.Numerical, column.data.fillna("").astype(str).str.count(CITATION.pattern))


@dataclass
class TestResult:
    """One drift test of a report: the metric's name is what alerts and Prometheus call it."""

    metric: str  # e.g. "latency_ms_drift", "prompt_text_drift", "query_embedding_mmd_drift"
    column: str
    kind: str  # numerical | categorical | descriptor | text | embedding
    method: str | None
    score: float | None
    threshold: float | None
    drifted: bool
    skipped: str | None = None  # why the test did not run (too few values, ...)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BuiltReport:
    html: str
    evidently: dict[str, Any]  # the Evidently snapshots' own JSON (requests, queries)
    results: list[TestResult]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def tested(self) -> list[TestResult]:
        return [r for r in self.results if r.skipped is None]

    @property
    def drifted(self) -> list[TestResult]:
        return [r for r in self.results if r.drifted]


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def feedback_label(rating: Any) -> str:
    if rating is None or (isinstance(rating, float) and math.isnan(rating)):
        return NO_FEEDBACK
    return {-1: "negative", 0: "neutral", 1: "positive"}.get(int(rating), NO_FEEDBACK)


def summarise(frame: pd.DataFrame) -> dict[str, Any]:
    """Plain figures of one window, shown beside the tests (means, rates, the rating distribution)."""
    n = len(frame)
    feedback = frame["feedback"].value_counts().to_dict() if n else {}
    rated = n - feedback.get(NO_FEEDBACK, 0)

    def mean(column: str) -> float | None:
        return _finite(frame[column].mean()) if n and column in frame else None

    def p95(column: str) -> float | None:
        return _finite(frame[column].quantile(0.95)) if n and column in frame else None

    return {
        "rows": n,
        "latency_ms_mean": mean("latency_ms"),
        "latency_ms_p95": p95("latency_ms"),
        "ttft_ms_mean": mean("ttft_ms"),
        "tpot_ms_mean": mean("tpot_ms"),
        "prompt_tokens_mean": mean("prompt_tokens"),
        "completion_tokens_mean": mean("completion_tokens"),
        "feedback_rate": rated / n if n else None,
        "ratings": {k: int(v) for k, v in feedback.items() if k != NO_FEEDBACK},
        "rating_mean": mean("rating"),
        "cache_hit_share": (float((frame["cache_hit"] != "none").mean()) if n and "cache_hit" in frame else None),
        "model_versions": {str(k): int(v) for k, v in frame["model_version"].value_counts().items()} if n else {},
    }


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """The window's rows as the reports read them (missing texts empty, categories as strings, feedback labelled)."""
    frame = frame.copy()
    for column in TEXT_COLUMNS:
        frame[column] = frame[column].fillna("").astype(str)
    if "rating" not in frame:
        frame["rating"] = np.nan
    frame["feedback"] = [feedback_label(r) for r in frame["rating"]]
    for column in CATEGORICAL_COLUMNS:
        frame[column] = frame[column].fillna("none").astype(str)
    for column in NUMERICAL_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def _text_drift_possible(reference: pd.Series, current: pd.Series) -> str | None:
    """Why Evidently's text domain classifier cannot run on these texts, or None when it can.

    It fits TfidfVectorizer(max_df=0.5, stop_words="english"): texts that share every word (or hold none) leave no
    terms and raise, which would fail the whole report.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = pd.concat([reference, current])
    try:
        TfidfVectorizer(sublinear_tf=True, max_df=0.5, stop_words="english").fit(texts)
    except ValueError as exc:
        return f"no usable words for a domain classifier ({exc})"
    return None


def embedding_matrix(frame: pd.DataFrame, dimension: int, model: str | None) -> np.ndarray:
    rows = [
        e
        for e, m in zip(frame[EMBEDDING], frame["embedding_model"], strict=True)
        if e is not None and len(e) == dimension and (model is None or m == model)
    ]
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), dimension)


def _embedding_space(reference: pd.DataFrame) -> tuple[int, str | None] | None:
    """The reference's usual embedding dimension and model: only current rows in the same space are compared."""
    if EMBEDDING not in reference:
        return None
    present = reference[reference[EMBEDDING].notna()]
    if present.empty:
        return None
    dims = present[EMBEDDING].map(len)
    dimension = int(dims.mode().iloc[0])
    models = present.loc[dims == dimension, "embedding_model"].dropna()
    return dimension, (str(models.mode().iloc[0]) if not models.empty else None)


class DriftReportBuilder:
    def __init__(self, settings: DriftSettings, min_rows: int = 30):
        self.settings = settings
        self.min_rows = min_rows
        register_stattests()

    # --- plan: which tests run, with which method and threshold ----------------------------------------------

    def _method(self, kind: str) -> tuple[str, float | None]:
        s = self.settings
        if kind == "numerical":
            return s.numerical_method, s.numerical_threshold
        return s.categorical_method, s.categorical_threshold

    def _threshold(self, method: str, configured: float | None, p_value_tests: int) -> float | None:
        if configured is not None:
            return configured
        if method in P_VALUE_METHODS:
            return self.settings.alpha / (p_value_tests if self.settings.bonferroni else 1)
        return None  # Evidently's default for that method

    # --- build ---------------------------------------------------------------------------------------------

    def build(self, reference: pd.DataFrame, current: pd.DataFrame, title: str = "") -> BuiltReport:
        import warnings

        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.settings.threads), warnings.catch_warnings():
            # sklearn's "max_iter reached" from Evidently's classifiers and pandas' fragmentation notes: noise here
            warnings.simplefilter("ignore", category=UserWarning)
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.simplefilter("ignore", category=RuntimeWarning)
            from pandas.errors import PerformanceWarning
            from sklearn.exceptions import ConvergenceWarning

            warnings.simplefilter("ignore", category=ConvergenceWarning)
            warnings.simplefilter("ignore", category=PerformanceWarning)
            return self._build(prepare(reference), prepare(current), title)

    def _build(self, reference: pd.DataFrame, current: pd.DataFrame, title: str) -> BuiltReport:
        from evidently import DataDefinition, Dataset, Report
        from evidently.descriptors import (
            Contains,
            CustomColumnDescriptor,
            NonLetterCharacterPercentage,
            TextLength,
            WordCount,
        )
        from evidently.metrics import ValueDrift

        s = self.settings
        results: list[TestResult] = []
        value_tests: list[tuple[str, str, str]] = []  # (metric, column, kind)

        for column in NUMERICAL_COLUMNS:
            ref_n, cur_n = reference[column].notna().sum(), current[column].notna().sum()
            if min(ref_n, cur_n) < self.min_rows:
                results.append(
                    TestResult(
                        f"{column}_drift",
                        column,
                        "numerical",
                        None,
                        None,
                        None,
                        False,
                        skipped=f"too few values (reference {ref_n}, current {cur_n}; at least {self.min_rows})",
                    )
                )
            else:
                value_tests.append((f"{column}_drift", column, "numerical"))
        for column in CATEGORICAL_COLUMNS:
            value_tests.append((f"{column}_drift", column, "categorical"))
        for column, (_, kind) in DESCRIPTORS.items():
            value_tests.append((f"{column}_drift", column, kind))
        text_tests = []
        for column in TEXT_COLUMNS:
            why = _text_drift_possible(reference[column], current[column])
            if why:
                results.append(
                    TestResult(f"{column}_text_drift", column, "text", s.text_method, None, None, False, why)
                )
            else:
                text_tests.append(column)

        p_value_tests = sum(1 for _, _, kind in value_tests if self._method(kind)[0] in P_VALUE_METHODS)
        metrics, planned = [], []
        for metric_name, column, kind in value_tests:
            method, configured = self._method(kind)
            threshold = self._threshold(method, configured, p_value_tests)
            metric = ValueDrift(column=column, method=method, threshold=threshold)
            metrics.append(metric)
            shown_kind = "descriptor" if column in DESCRIPTORS else kind
            planned.append((metric, metric_name, column, shown_kind, method, threshold))
        for column in text_tests:
            metric = ValueDrift(column=column, method=s.text_method, threshold=s.text_threshold)
            metrics.append(metric)
            planned.append((metric, f"{column}_text_drift", column, "text", s.text_method, s.text_threshold))

        definition = DataDefinition(
            numerical_columns=list(NUMERICAL_COLUMNS),
            categorical_columns=list(CATEGORICAL_COLUMNS),
            text_columns=list(TEXT_COLUMNS),
        )
        markers = list(s.refusal_markers)
        descriptors = [
            TextLength("prompt", alias="prompt_length"),
            WordCount("prompt", alias="prompt_words"),
            NonLetterCharacterPercentage("prompt", alias="prompt_non_letter_share"),
            TextLength("response", alias="response_length"),
            WordCount("response", alias="response_words"),
            Contains("response", items=markers, case_sensitive=False, mode="any", alias="response_refusal"),
            CustomColumnDescriptor("response", count_citations, alias="response_citations"),
        ]
        columns = [*NUMERICAL_COLUMNS, *CATEGORICAL_COLUMNS, *TEXT_COLUMNS]
        ref_ds = Dataset.from_pandas(reference[columns], data_definition=definition, descriptors=descriptors)
        cur_ds = Dataset.from_pandas(current[columns], data_definition=definition, descriptors=descriptors)
        requests_snapshot = Report(metrics, include_tests=True).run(cur_ds, ref_ds)
        for metric, metric_name, column, kind, method, threshold in planned:
            results.append(self._result(requests_snapshot, metric, metric_name, column, kind, threshold, method))

        snapshots = [("Requests: values, categories, text descriptors, texts", requests_snapshot)]
        queries = self._embedding_report(reference, current, results)
        if queries is not None:
            snapshots.append(("Query embeddings", queries))

        summary = {"reference": summarise(reference), "current": summarise(current)}
        return BuiltReport(
            html=render_html(snapshots, title),
            evidently={name: snap.dict() for name, snap in zip(("requests", "queries"), (s for _, s in snapshots))},
            results=results,
            summary=summary,
        )

    def _result(self, snapshot, metric, name, column, kind, threshold, method) -> TestResult:
        result = snapshot.context.get_metric_result(metric)
        tests = list(result.tests or [])
        drifted = any(t.status.value == "FAIL" for t in tests)
        resolved = getattr(metric, "method", None) or method
        return TestResult(name, column, kind, resolved, _finite(result.value), threshold, drifted)

    def _embedding_report(self, reference: pd.DataFrame, current: pd.DataFrame, results: list[TestResult]):
        from evidently import DataDefinition, Dataset, Report
        from evidently.legacy.metrics.data_drift import embeddings_drift
        from evidently.metrics import EmbeddingsDrift
        from evidently.metrics.embeddings import MMDDriftMethod, ModelDriftMethod
        from evidently.tests import lt

        s = self.settings
        # The page's t-SNE map of the queries samples this many rows a side (Evidently's module constant, 2500):
        # each EmbeddingsDrift metric draws its own map, and t-SNE was two thirds of a 1,000-request report.
        embeddings_drift.SAMPLE_CONSTANT = s.embedding_plot_rows
        names = (("query_embedding_model_drift", "model"), ("query_embedding_mmd_drift", "mmd"))
        space = _embedding_space(reference)
        ref = cur = None
        if space is not None:
            ref, cur = embedding_matrix(reference, *space), embedding_matrix(current, *space)
        if ref is None or min(len(ref), len(cur)) < self.min_rows:
            counts = "none in the reference" if ref is None else f"reference {len(ref)}, current {len(cur)}"
            for name, method in names:
                results.append(
                    TestResult(
                        name,
                        EMBEDDING,
                        "embedding",
                        method,
                        None,
                        None,
                        False,
                        skipped=f"too few comparable query embeddings ({counts}; at least {self.min_rows})",
                    )
                )
            return None
        rng = np.random.default_rng(0)
        ref = ref[rng.permutation(len(ref))[: s.embedding_max_rows]]
        cur = cur[rng.permutation(len(cur))[: s.embedding_max_rows]]
        emb_columns = [f"e{i}" for i in range(ref.shape[1])]
        definition = DataDefinition(numerical_columns=emb_columns, embeddings={EMBEDDING: emb_columns})
        ref_ds = Dataset.from_pandas(pd.DataFrame(ref, columns=emb_columns), data_definition=definition)
        cur_ds = Dataset.from_pandas(pd.DataFrame(cur, columns=emb_columns), data_definition=definition)
        model = EmbeddingsDrift(
            embeddings_name=EMBEDDING,
            drift_method=ModelDriftMethod(threshold=s.embedding_model_threshold),
            tests=[lt(s.embedding_model_threshold)],
        )
        mmd = EmbeddingsDrift(
            embeddings_name=EMBEDDING,
            drift_method=MMDDriftMethod(threshold=s.embedding_mmd_threshold),
            tests=[lt(s.embedding_mmd_threshold)],
        )
        snapshot = Report([model, mmd], include_tests=True).run(cur_ds, ref_ds)
        for metric, (name, method), threshold in zip(
            (model, mmd), names, (s.embedding_model_threshold, s.embedding_mmd_threshold), strict=True
        ):
            results.append(self._result(snapshot, metric, name, EMBEDDING, "embedding", threshold, method))
        return snapshot


def render_html(snapshots: list[tuple[str, Any]], title: str = "") -> str:
    """One standalone page of several Evidently snapshots, drawn by Evidently's own renderer (each snapshot a
    titled group of its widgets, then the tests of all of them)."""
    from itertools import chain

    from evidently.core.metric_types import metric_tests_widget, render_widgets
    from evidently.core.report import metric_tests_stats
    from evidently.legacy.renderers.html_widgets import group_widget

    widgets = [group_widget(title=name, widgets=snap._widgets) for name, snap in snapshots]
    tests = list(
        chain.from_iterable(
            snap.context.get_metric_result(metric_id).tests or []
            for _, snap in snapshots
            for metric_id in snap._top_level_metrics
        )
    )
    if tests:
        widgets += [metric_tests_stats(tests), metric_tests_widget(tests)]
    html = render_widgets(widgets, as_iframe=False)
    if title:
        html = html.replace("<head>", f"<head>\n<title>{_escape(title)}</title>", 1)
    return html


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)
