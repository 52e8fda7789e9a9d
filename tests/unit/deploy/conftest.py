"""Fixtures of the deployment tests: charts/twin loaded once and rendered offline (Helm v4 SDK)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
from deploy_support import CHART, REPO, render_chart

sys.path.insert(0, str(REPO / "docker"))  # docker/local_packages.py: what an image installs


@pytest.fixture(scope="session")
def chart():
    import helm_python

    return helm_python.Chart.load(CHART)


@pytest.fixture(scope="session")
def render(chart) -> Callable[[dict | None], list[dict]]:
    return lambda values=None: render_chart(chart, values)
