import pytest


@pytest.fixture(scope="session", autouse=True)
def _stack_for_this_tier(local_stack):
    """Every test in this tier runs against the real local stack."""
    return local_stack
