"""Fixtures of the deployment tests: charts/twin loaded once and rendered offline (Helm v4 SDK); each named
profile (deploy_support.PROFILES) rendered at most once per run."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
from deploy_support import CHART, PROFILES, REPO, render_chart

sys.path.insert(0, str(REPO / "docker"))  # docker/local_packages.py: what an image installs


@pytest.fixture(scope="session")
def chart():
    import helm_python

    return helm_python.Chart.load(CHART)


@pytest.fixture(scope="session")
def render(chart) -> Callable[[dict | None], list[dict]]:
    return lambda values=None: render_chart(chart, values)


@pytest.fixture(scope="session")
def profile(chart) -> Callable[[str], list[dict]]:
    """The objects of a named values profile (rendered once, shared: do not modify them)."""
    rendered: dict[str, list[dict]] = {}

    def get(name: str) -> list[dict]:
        if name not in rendered:
            rendered[name] = render_chart(chart, PROFILES[name])
        return rendered[name]

    return get
