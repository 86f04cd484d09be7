import pytest
import time_machine

from lifecycle import experiments

from .factories import NOW


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture(autouse=True)
def _experiments_not_available():
    """Most tests leave the experiment criterion out ("not available"); test_experiments.py wires evals."""
    experiments.register_provider(lambda agents: None)
    yield
    experiments.register_provider(None)
