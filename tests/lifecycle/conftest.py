import pytest
import time_machine

from lifecycle import experiments

from .factories import NOW


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture(autouse=True)
def _no_experiment_provider():
    experiments.register_provider(None)
    yield
    experiments.register_provider(None)
