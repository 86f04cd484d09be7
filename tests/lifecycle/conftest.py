from dataclasses import replace

import pytest
import time_machine

from lifecycle import criteria

from .factories import NOW


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture(autouse=True)
def _experiments_not_required(monkeypatch):
    """Most tests switch the experiment criterion off in the stage defaults; test_experiments.py keeps it."""
    for stage, defaults in list(criteria.DEFAULTS.items()):
        monkeypatch.setitem(criteria.DEFAULTS, stage, replace(defaults, check_experiment=False))
