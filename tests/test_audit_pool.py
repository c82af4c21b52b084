"""The audit's worker pools spawn fresh interpreters: a forked worker inherits TensorFlow's
threads and locks mid-state (issue 7: a mutex check failure and BrokenProcessPool after 12
minutes of a full audit)."""
from __future__ import annotations

import sys
import types
from dataclasses import replace

import pytest

from tinyfl.audit import _pool
from tinyfl.audit.utility import UtilityConfig, utility_curve

LOADED_IN_PARENT = "tinyfl_test_stands_for_tensorflow"


def test_workers_do_not_inherit_the_parents_modules(monkeypatch):
    monkeypatch.setitem(sys.modules, LOADED_IN_PARENT, types.ModuleType(LOADED_IN_PARENT))
    with _pool.process_pool(1) as pool:
        inherited = pool.submit(_pool.loaded_modules, [LOADED_IN_PARENT]).result(timeout=120)
    assert inherited == []  # a forked worker would list the parent's module
    assert pool._mp_context.get_start_method() == "spawn"


def test_utility_workers_run_in_the_spawned_pool_with_the_parents_features(monkeypatch):
    started = []
    real = _pool.process_pool

    def spy(workers, initializer=None, initargs=()):
        started.append(workers)
        return real(workers, initializer, initargs)

    monkeypatch.setattr(_pool, "process_pool", spy)
    config = replace(UtilityConfig(), fleet_sizes=(10,), rounds=3, repeats=2, workers=2)
    curve = utility_curve(config, [0.0, 1.0])
    assert started == [2]
    assert curve.rounds_trained() == [3, 3]
    assert all(0.0 <= a <= 1.0 for a in curve.accuracy[10])
    assert [len(h) for h in curve.history[10]] == [3, 3]


def test_the_budget_cuts_the_simulated_fleet_short():
    config = replace(UtilityConfig(), fleet_sizes=(10,), rounds=12, repeats=1, eps_limit=50.0)
    curve = utility_curve(config, [0.1, 1.0])
    # z = 0.1 costs eps 295 per release: the device never releases; z = 1 stops at 10 (RDP, replace)
    assert curve.releases_allowed == [0, 10]
    assert curve.rounds_trained() == [0, 10]
    assert curve.accuracy[10][0] == pytest.approx(curve.initial_accuracy)
    assert [len(h) for h in curve.history[10]] == [0, 10]
