"""Document style statistics, author aggregates, and the features the pipeline derives from each change."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from twin_common.events import DebeziumEnvelope
from twin_embedder.feast_sink import (
    AUTHOR_COLUMNS,
    DOCUMENT_COLUMNS,
    author_frame,
    document_frame,
    ensure_offline_file,
)
from twin_embedder.features import TTR_WINDOW, AuthorFeatures, DocumentFeatures, StyleStats


def test_style_stats_count_words_and_sentences():
    stats = StyleStats.of("The bee flies. The bee sleeps! Does it dream?")
    assert stats.words == 9 and stats.sentences == 3
    assert stats.mean_sentence_words == pytest.approx(3.0)
    assert stats.type_token_ratio == pytest.approx(7 / 9)  # "the" and "bee" repeat


def test_style_stats_of_empty_and_wordless_text():
    assert StyleStats.of("") == StyleStats()
    assert StyleStats.of("123 456 ... !!!") == StyleStats()


def test_type_token_ratio_does_not_fall_with_length():
    """Windowed TTR: a text repeated many times keeps the ratio of one repetition (the plain ratio would not)."""
    unit = " ".join("w" + chr(97 + i // 26) + chr(97 + i % 26) for i in range(TTR_WINDOW))  # 100 distinct words
    assert StyleStats.of(unit).type_token_ratio == pytest.approx(1.0)
    assert StyleStats.of(" ".join([unit] * 20)).type_token_ratio == pytest.approx(1.0)
    repetitive = " ".join(["same"] * TTR_WINDOW * 3)
    assert StyleStats.of(repetitive).type_token_ratio == pytest.approx(1 / TTR_WINDOW)


def _doc(doc_id, tokens, words, sentences, ttr, deleted=False):
    return DocumentFeatures(
        "acme",
        doc_id,
        "a1",
        1,
        tokens,
        "en",
        None,
        deleted=deleted,
        style=StyleStats(words, sentences, words / max(sentences, 1), ttr),
    )


def test_author_aggregate_over_live_documents():
    now = datetime(2026, 3, 1, tzinfo=UTC)
    author = AuthorFeatures.aggregate(
        "acme",
        "a1",
        [_doc("d1", 100, 80, 8, 0.5), _doc("d2", 300, 240, 12, 0.9), _doc("d3", 999, 999, 1, 0.1, deleted=True)],
        now,
    )
    assert author.document_count == 2 and author.token_count == 400
    assert author.mean_document_tokens == pytest.approx(200)
    assert author.mean_sentence_words == pytest.approx(320 / 20)
    assert author.type_token_ratio == pytest.approx((0.5 * 80 + 0.9 * 240) / 320)
    assert author.as_of == now


def test_author_without_documents_has_zero_features():
    empty = AuthorFeatures.aggregate("acme", "a1", [], datetime(2026, 3, 1, tzinfo=UTC))
    assert (empty.document_count, empty.token_count, empty.mean_document_tokens, empty.type_token_ratio) == (0, 0, 0, 0)


def test_frames_have_the_offline_schema():
    jan = datetime(2026, 1, 1, tzinfo=UTC)
    docs = document_frame(
        [
            _doc("d1", 10, 8, 2, 0.5),
            DocumentFeatures("acme", "d2", "a1", 0, 0, None, None, deleted=True, committed_at=jan),
        ]
    )
    assert list(docs.columns) == list(DOCUMENT_COLUMNS) and docs["deleted"].tolist() == [False, True]
    assert docs["event_timestamp"].iloc[1] == jan  # a delete is stamped with its commit time
    authors = author_frame([AuthorFeatures.aggregate("acme", "a1", [_doc("d1", 10, 8, 2, 0.5)], jan)])
    assert list(authors.columns) == list(AUTHOR_COLUMNS) and authors["document_count"].tolist() == [1]


def test_pipeline_features_carry_style_commit_time_and_the_deleted_author(pipeline):
    sink = pipeline.features
    row = {
        "id": "d1",
        "tenant_id": "acme",
        "author_id": "a1",
        "kind": "post",
        "external_id": "d1",
        "title": "",
        "content": "**Bees** fly. Bees sleep.",
        "content_hash": "h1",
        "tags": None,
        "metadata": "{}",
    }
    ts_ms = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    pipeline.apply(DebeziumEnvelope.model_validate({"op": "c", "after": row, "source": {"lsn": 1, "ts_ms": ts_ms}}))
    pipeline.apply(
        DebeziumEnvelope.model_validate({"op": "d", "before": row, "source": {"lsn": 2, "ts_ms": ts_ms + 5000}})
    )
    created, deleted = sink.pushed
    assert created.kind == "post" and created.style.words == 4 and created.style.sentences == 2
    assert created.event_time == datetime(2026, 1, 1, tzinfo=UTC)
    assert deleted.deleted and deleted.author_id == "a1" and deleted.token_count == 0
    assert deleted.event_time == datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    assert (created.source_lsn, deleted.source_lsn) == (1, 2)


def test_commit_time_keeps_the_microseconds_debezium_sends(pipeline):
    row = {
        "id": "d1",
        "tenant_id": "acme",
        "author_id": "a1",
        "kind": "post",
        "external_id": "d1",
        "title": "",
        "content": "Bees fly.",
        "content_hash": "h1",
        "tags": None,
        "metadata": "{}",
    }
    ts_us = 1_767_225_600_000_250  # 2026-01-01T00:00:00.000250Z: the same millisecond as ts_ms
    pipeline.apply(
        DebeziumEnvelope.model_validate(
            {"op": "c", "after": row, "source": {"lsn": 1, "ts_ms": ts_us // 1000, "ts_us": ts_us}}
        )
    )
    assert pipeline.features.pushed[-1].event_time == datetime(2026, 1, 1, 0, 0, 0, 250, tzinfo=UTC)


def test_an_offline_file_from_before_a_column_existed_gets_it_empty(tmp_path):
    path = tmp_path / "document_stats.parquet"
    older = [c for c in DOCUMENT_COLUMNS if c != "source_lsn"]
    document_frame([_doc("d1", 10, 8, 2, 0.5)])[older].to_parquet(path)
    ensure_offline_file(path, DOCUMENT_COLUMNS)
    frame = pd.read_parquet(path)
    assert list(frame.columns) == list(DOCUMENT_COLUMNS)
    assert frame["document_id"].tolist() == ["d1"] and frame["source_lsn"].isna().all()
    ensure_offline_file(tmp_path / "new.parquet", DOCUMENT_COLUMNS)  # and a missing file is created empty
    assert list(pd.read_parquet(tmp_path / "new.parquet").columns) == list(DOCUMENT_COLUMNS)
