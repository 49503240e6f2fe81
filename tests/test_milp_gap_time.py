"""milp's certified bound over time (``info["bound_trajectory"]``) and the time at which the
certified gap first reached each of ``GAP_MARKS`` (``info["time_to_gap"]``): every point a valid
lower bound, increasing, from the Lagrangian bound to the final ``bound``; HiGHS's dual bound
sampled while it runs; the crossing computed from both trajectories."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from offbench.discovery import resolve
import offbench_solvers.milp as M
from offbench_solvers._backends import solve_linear
from offbench_solvers._milp_parts import BoundTrajectory, time_to_gap

from .test_milp import _coupled
from .test_milp_restart import RESTARTING, _force


def test_time_to_gap_takes_the_best_of_both_so_far():
    inc = [(0.0, 100.0), (2.0, 90.0), (5.0, 80.0)]
    bounds = [(1.0, 50.0), (3.0, 79.0), (4.0, 79.99)]
    # at 3: (90 - 79) / 90 = 0.12; at 4: 0.111; at 5: (80 - 79.99) / 80 = 1.25e-4
    assert time_to_gap(inc, bounds, 0.5) == 1.0      # (100 - 50) / 100
    assert time_to_gap(inc, bounds, 0.2) == 3.0
    assert time_to_gap(inc, bounds, 2e-4) == 5.0
    assert time_to_gap(inc, bounds, 1e-4) is None
    assert time_to_gap(inc, [], 0.5) is None and time_to_gap([], bounds, 0.5) is None
    # A bound met before any incumbent counts from the first incumbent on.
    assert time_to_gap([(7.0, 80.0)], bounds, 1e-3) == 7.0


def test_bound_trajectory_keeps_rising_finite_bounds():
    b = BoundTrajectory(8.0)
    for when, v in ((8.5, 1.0), (8.625, None), (8.75, 0.5), (8.875, math.inf), (9.0, 2.0),
                    (8.9375, 3.0), (9.25, -math.inf), (9.5, 2.5)):
        b.add(when, v)
    # times never go back (a bound read on another clock reading is kept at the last time)
    assert b.points == [(0.5, 1.0), (1.0, 2.0), (1.0, 3.0)]
    assert b.to_info() == {"t": [0.5, 1.0, 1.0], "bound": [1.0, 2.0, 3.0]}


def _check(r, optimum):
    bt = r.info["bound_trajectory"]
    t, bound = bt["t"], bt["bound"]
    assert len(t) == len(bound) >= 1
    assert all(a <= b for a, b in zip(t, t[1:]))
    assert all(a < b for a, b in zip(bound, bound[1:]))
    assert t[-1] <= r.wall_time
    assert bound[-1] == r.bound
    assert all(v <= optimum * (1 + 1e-12) for v in bound)
    if "lagrangian_bound" in r.info:
        assert bound[0] == r.info["lagrangian_bound"] or r.info["lagrangian_bound"] < bound[0]
    marks = [r.info["time_to_gap"][f"{g:.0e}"] for g in M.GAP_MARKS]
    reached = [v for v in marks if v is not None]
    assert reached == marks[:len(reached)]          # a smaller gap is never reached first
    assert all(a <= b for a, b in zip(reached, reached[1:]))
    assert all(v <= r.wall_time for v in reached)
    # The same crossing from the thinned trajectories in info (their last points, the best,
    # are kept): reached at the same gaps, never earlier.
    tr = r.info["trajectory"]
    inc = list(zip(tr["t"], tr["cost"]))
    for g, v in zip(M.GAP_MARKS, marks):
        w = time_to_gap(inc, list(zip(t, bound)), g)
        assert (v is None) == (w is None)
        assert v is None or w >= v
    return marks


@pytest.mark.parametrize("case", RESTARTING[:3], ids=lambda c: "-".join(map(str, c)))
def test_bounds_over_time_are_certified_through_restarts(monkeypatch, case):
    seed, n_jobs, layers, fraction = case
    inst = _coupled(seed, n_jobs=n_jobs, layers=layers, fraction=fraction)
    ref = M.MILP(formulation="transitions", reduce=False).solve(inst, seed=0)
    plain = M.MILP().solve(inst, seed=0)
    _force(monkeypatch)
    forced = M.MILP().solve(inst, seed=0)
    assert forced.info.get("restarts", 0) >= 1
    for r in (plain, forced):
        assert r.status == "optimal" and r.cost == pytest.approx(ref.cost, rel=1e-9)
        marks = _check(r, ref.cost)
        assert marks[-1] is not None                 # proven: within 1e-6 at the end
        # The improving solutions of the MILP are in the trajectory, priced by the cost model.
        assert r.info["trajectory"]["cost"][-1] == r.cost


def test_other_back_ends_report_the_lagrangian_and_final_bounds():
    inst = _coupled(315, n_jobs=5, layers=5, fraction=0.15)
    r = M.MILP(backend="highs").solve(inst, seed=0)
    assert r.status == "optimal"
    _check(r, r.cost)
    assert r.info["bound_trajectory"]["bound"][-1] == r.bound


def test_highspy_samples_its_dual_bound_while_it_runs():
    """A multidimensional knapsack HiGHS does not close in 1 s: its dual bound is read while it
    runs (improving solutions, log lines), rising, and never above the bound it ends with."""
    rng = np.random.default_rng(0)
    n, m = 300, 40
    A = rng.integers(1, 100, size=(m, n)).astype(float)
    obj = -rng.integers(1, 100, size=n).astype(float)
    seen = []
    out = solve_linear("highspy", obj, sp.csr_matrix(A), np.full(m, -np.inf), A.sum(axis=1) / 3,
                       np.zeros(n), np.ones(n), np.ones(n, dtype=bool), time_limit=1.0,
                       threads=1, seed=0, on_solution=lambda v: seen.append(v) and False)
    assert out.status == "timeout" and out.bound is not None
    assert seen and all(v.size == n for v in seen)
    b = [v for _, v in out.bounds]
    assert len(b) >= 2 and all(x < y for x, y in zip(b, b[1:]))
    assert b[-1] <= out.bound + 1e-9 * abs(out.bound)


def test_the_dag_milp_reports_its_bounds_over_time():
    """DAG jobs (solvers/_dag_milp.py): the minimum cut's and the LP's bounds as they come, then
    highspy's dual bound while it runs, and its improving solutions in the trajectory; every
    bound certified against exhaustive search (it used to report only its final bound, so its
    time_to_gap was its end time)."""
    from offbench.dag import random_dag_instance

    ran = 0
    for seed in (2, 4, 5, 6, 7):
        inst = random_dag_instance(seed, n_jobs=3, nodes=(3, 4), capacities=True, deadlines=True)
        opt = resolve("exhaustive")().solve(inst)
        r = M.MILP().solve(inst, seed=0)
        assert r.status == "optimal" and r.cost == pytest.approx(opt.cost, rel=1e-9)
        _check(r, opt.cost)
        if "backend_nodes" in r.info:
            ran += 1
            assert len(r.info["bound_trajectory"]["t"]) >= 2
    assert ran >= 3
