"""The drift report of a window against its reference, offline (Evidently, no NLTK data, no model download):
which tests run with which method and threshold, what is skipped and why, and that a slower model is named by its
timing metrics and nothing else."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from twin_monitor.drift import (
    CHI2_HOMOGENEITY,
    DriftReportBuilder,
    _chi2_homogeneity,
    count_citations,
    feedback_label,
)
from twin_monitor.records import RequestRow
from twin_monitor.settings import DriftSettings
from twin_monitor.synthetic import SLOW_MODEL, STABLE, generate


def frame(profile, n: int, seed: int, embeddings: bool = True) -> pd.DataFrame:
    rows = []
    for g in generate(profile, n, "acme", seed):
        row = dataclasses.asdict(RequestRow.from_event(g.request, ["route"]))
        row["rating"] = g.feedback.rating if g.feedback else None
        if not embeddings:
            row["query_embedding"] = None
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def slow_report():
    builder = DriftReportBuilder(DriftSettings(), min_rows=30)
    return builder.build(frame(STABLE, 120, 1), frame(SLOW_MODEL, 100, 2), title="acme · slow")


def test_a_slower_model_is_named_by_its_timings_only(slow_report):
    drifted = {r.metric for r in slow_report.drifted}
    assert {"latency_ms_drift", "ttft_ms_drift", "tpot_ms_drift", "model_version_drift"} <= drifted
    assert not drifted & {"prompt_text_drift", "query_embedding_model_drift", "query_embedding_mmd_drift"}
    assert slow_report.summary["current"]["model_versions"] == {"2": 100}


def test_every_planned_test_ran_with_its_method_and_a_bonferroni_threshold(slow_report):
    by_metric = {r.metric: r for r in slow_report.results}
    assert len(by_metric) == len(slow_report.results) == 22
    assert not [r for r in slow_report.results if r.skipped]
    p_value_tests = [r for r in slow_report.results if r.method in ("ks", CHI2_HOMOGENEITY)]
    assert len(p_value_tests) == 18
    assert all(r.threshold == pytest.approx(DriftSettings().alpha / 18) for r in p_value_tests)
    assert by_metric["prompt_text_drift"].method == "abs_text_content_drift"
    assert by_metric["query_embedding_mmd_drift"].kind == "embedding"
    assert by_metric["response_refusal_drift"].kind == "descriptor"


def test_the_page_is_evidently_s_own_with_both_runs(slow_report):
    html = slow_report.html
    assert "<title>acme · slow</title>" in html
    for text in ("Query embeddings", "Requests: values", "Drift in embeddings", "prompt_non_letter_share", "ttft_ms"):
        assert text in html, text
    assert set(slow_report.evidently) == {"requests", "queries"}


def test_missing_values_and_embeddings_are_skipped_with_a_reason():
    reference, current = frame(STABLE, 60, 3, embeddings=False), frame(STABLE, 40, 4, embeddings=False)
    current["ttft_ms"] = None  # nothing streamed in this window
    report = DriftReportBuilder(DriftSettings(), min_rows=30).build(reference, current)
    skipped = {r.metric: r.skipped for r in report.results if r.skipped}
    assert set(skipped) == {"ttft_ms_drift", "query_embedding_model_drift", "query_embedding_mmd_drift"}
    assert "too few values" in skipped["ttft_ms_drift"]
    assert "query embeddings" in skipped["query_embedding_mmd_drift"]


def test_texts_without_usable_words_skip_the_domain_classifier():
    reference, current = frame(STABLE, 40, 5), frame(STABLE, 40, 6)
    reference["response"] = current["response"] = "I don't know."
    report = DriftReportBuilder(DriftSettings(), min_rows=30).build(reference, current)
    (response,) = [r for r in report.results if r.metric == "response_text_drift"]
    assert response.skipped and "domain classifier" in response.skipped and not response.drifted


def test_homogeneity_does_not_alarm_on_one_unseen_category():
    from evidently.legacy.calculations.stattests.chisquare_stattest import _chi_stat_test

    reference = pd.Series(["positive"] * 40 + ["none"] * 160)
    current = pd.Series(["positive"] * 30 + ["none"] * 119 + ["neutral"])
    p_value, drifted = _chi2_homogeneity(reference, current, None, 0.05 / 18)
    assert p_value > 0.05 and not drifted
    with np.errstate(divide="ignore"):  # the expected count of "neutral" is 0: scipy divides by it
        goodness_of_fit, _ = _chi_stat_test(reference, current, None, 0.05 / 18)
    assert goodness_of_fit == 0.0  # Evidently's "chisquare": the reason it is not the default here
    assert _chi2_homogeneity(pd.Series(["a"] * 5), pd.Series(["a"] * 5), None, 0.05) == (1.0, False)


def test_descriptors_and_labels():
    from evidently.core.datasets import DatasetColumn
    from evidently.legacy.core import ColumnType

    column = DatasetColumn(ColumnType.Text, pd.Series(["see [1] and [12]", None, "no citation", "[a] [3]"]))
    assert list(count_citations(column).data) == [2, 0, 0, 1]
    assert [feedback_label(r) for r in (None, float("nan"), -1, 0, 1)] == [
        "none",
        "none",
        "negative",
        "neutral",
        "positive",
    ]
