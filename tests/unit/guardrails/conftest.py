import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def guardrails():
    """The rails with their models, loaded once for the session (about 10-20 s)."""
    from twin_guardrails.rails import Guardrails

    rails = Guardrails()
    yield rails
    rails.close()


@pytest.fixture
def rails_with(guardrails):
    """Rails over the session's models with other settings (tenant policies, thresholds)."""
    from twin_guardrails.input_rails import InputRails
    from twin_guardrails.output_rails import OutputRails
    from twin_guardrails.retrieval_rail import RetrievalRail
    from twin_guardrails.settings import GuardrailSettings

    made = []

    def make(**settings):
        s = GuardrailSettings(**settings)
        shared = {"pii": guardrails.input.pii, "toxicity": guardrails.input.toxicity}
        input_rails = InputRails(s, injection=guardrails.input.injection, **shared)
        made.append(input_rails)
        return (
            input_rails,
            RetrievalRail(s, injection=guardrails.input.injection),
            OutputRails(s, **shared),
        )

    yield make
    for rails in made:
        rails.close()
