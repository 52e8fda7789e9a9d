"""The span and metric catalogue in docs/observability.md is the one generated from the telemetry table."""

import importlib.util
from pathlib import Path

from twin_common.telemetry.catalogue import SERVICES

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "gen_telemetry_catalogue.py"


def _script():
    spec = importlib.util.spec_from_file_location("gen_telemetry_catalogue", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_catalogue_is_current():
    script = _script()
    assert script.main(["--check"]) == 0, "run: .venv/bin/python scripts/gen_telemetry_catalogue.py"


def test_catalogue_names_every_row_span_and_metric():
    rendered = _script().render()
    for row in SERVICES:
        assert f"### {row.service}" in rendered
        assert all(f"`{s.name}`" in rendered for s in row.spans)
        assert all(f"`{m.name}`" in rendered for m in row.metrics)


def test_every_row_has_spans_metrics_and_a_health_path():
    for row in SERVICES:
        assert row.spans and row.metrics and row.health_path.startswith("/") and row.metrics_path == "/metrics"
        assert len({s.name for s in row.spans}) == len(row.spans), f"{row.service} lists a span twice"
