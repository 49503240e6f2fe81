"""milp's restart (``RESTART_GAP_FACTOR``): when the MILP finds, within its first
``RESTART_NODES`` nodes, a decision much better than the incumbent it was built around, it stops
and rebuilds its model (reduction, fixings, formulation) around that decision. Forced here (any
improvement by a tenth of the gap, at any node, from a weak incumbent: no restricted MILP), every
answer still agrees with the textbook transition model without reduction (and with exhaustive
search where that is quick), and the restarted rounds are recorded."""

from __future__ import annotations

import pytest

import offbench_solvers.milp as M
from offbench.discovery import resolve

from .test_milp import _coupled

#: Coupled instances (``_coupled(seed, n_jobs, layers, fraction)``, 16 to 37 layers) on which the
#: forced restart fires (found by a scan of seeds 300-309): the path and the linked formulation.
RESTARTING = [(309, 5, 5, 0.15), (300, 8, 5, 0.3), (301, 8, 5, 0.15), (301, 6, 8, 0.3),
              (307, 6, 8, 0.15), (307, 6, 8, 0.3), (309, 6, 8, 0.3)]


def _force(monkeypatch):
    monkeypatch.setattr(M, "RESTART_GAP_FACTOR", 0.9)
    monkeypatch.setattr(M, "RESTART_NODES", 10**9)
    monkeypatch.setattr(M, "RESTART_MIN_GAP", 0.0)
    monkeypatch.setattr(M.MILP, "_restricted", lambda self, *a, **k: None)


@pytest.mark.parametrize("case", RESTARTING, ids=lambda c: "-".join(map(str, c)))
def test_forced_restarts_agree_with_the_textbook_model(monkeypatch, case):
    seed, n_jobs, layers, fraction = case
    inst = _coupled(seed, n_jobs=n_jobs, layers=layers, fraction=fraction)
    ref = M.MILP(formulation="transitions", reduce=False).solve(inst, seed=0)
    assert ref.status == "optimal"
    _force(monkeypatch)
    r = M.MILP().solve(inst, seed=0)
    assert r.status == "optimal" and r.feasible, r.info
    assert r.cost == pytest.approx(ref.cost, rel=1e-9)
    assert r.bound <= r.cost and r.cost - r.bound <= 1e-6 * abs(r.cost)
    n = r.info.get("restarts", 0)
    assert 1 <= n <= M.MAX_RESTARTS
    assert all(f"backend#{j}" in r.info["phases"] for j in range(1, n + 1))
    assert "backend" in r.info["phases"]
    assert r.info["incumbent_source"] == "milp restart"
    # The restart's incumbent is in the trajectory, below the earlier ones.
    costs = r.info["trajectory"]["cost"]
    assert r.info["incumbent_cost"] in costs
    assert r.info["incumbent_cost"] < costs[costs.index(r.info["incumbent_cost"]) - 1]
    if inst.n_layers <= 16:
        ex = resolve("exhaustive")().solve(inst)
        assert ex.status == "optimal" and r.cost == pytest.approx(ex.cost, rel=1e-9)


def test_no_restart_without_highspy(monkeypatch):
    """Only highspy can stop at a found solution; the other back ends solve once."""
    _force(monkeypatch)
    inst = _coupled(309, n_jobs=5, layers=5, fraction=0.15)
    r = M.MILP(backend="highs").solve(inst, seed=0)
    assert r.status == "optimal" and "restarts" not in r.info
    assert r.cost == pytest.approx(M.MILP(formulation="transitions", reduce=False)
                                   .solve(inst, seed=0).cost, rel=1e-9)
