"""A component's metrics (rails, cache) are registered once per gateway registry, however often the runtime starts."""

from prometheus_client import CollectorRegistry, Counter
from twin_gateway.metrics import GatewayMetrics


class ComponentMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.calls = Counter("twin_test_component_calls", "Calls.", registry=registry)


def test_a_component_is_made_once_per_registry():
    metrics = GatewayMetrics()
    first = metrics.component("example", ComponentMetrics)
    again = metrics.component("example", ComponentMetrics)  # a second start of the runtime: no duplicate series
    assert again is first
    first.calls.inc()
    assert metrics.registry.get_sample_value("twin_test_component_calls_total") == 1.0


def test_without_the_cache_a_second_registration_fails():
    """What component() prevents: prometheus_client refuses the same series twice on one registry."""
    metrics = GatewayMetrics()
    ComponentMetrics(metrics.registry)
    try:
        ComponentMetrics(metrics.registry)
    except ValueError as exc:
        assert "Duplicated timeseries" in str(exc)
    else:
        raise AssertionError("prometheus_client accepted a duplicated series")
