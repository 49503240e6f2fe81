"""The MILP and LP-bound solvers against brute force: every back end and formulation agrees
on the optimum, every bound is below it, the MILP's objective is the cost model's."""

from __future__ import annotations

import numpy as np
import pytest

from offbench.generators import random_instance
from offbench.solver import SolverError, resolve
from offbench.testing import brute_force

MILP = resolve("milp")
LPB = resolve("lp-bound")


def cases():
    out = []
    for seed in range(16):
        out.append(random_instance(500 + seed, n_devices=2, n_jobs=3, layers=(1, 3),
                                   capacities=seed % 2 == 0, deadlines=seed % 4 < 2,
                                   zero_fraction=0.3))
    return out


CASES = cases()


@pytest.mark.parametrize("backend", ["highs", "scip"])
@pytest.mark.parametrize("formulation", ["auto", "transitions"])
def test_milp_agrees_with_brute_force(backend, formulation):
    for inst in CASES:
        opt = brute_force(inst)
        r = MILP(backend=backend, formulation=formulation).solve(inst, seed=0)
        assert r.status == "optimal", (inst.name, r.error, r.info)
        assert r.cost == pytest.approx(opt.cost, rel=1e-6), inst.name
        assert r.bound <= opt.cost * (1 + 1e-9)
        assert "objective_mismatch" not in r.info


def test_milp_paths_formulation_is_explicit():
    inst = CASES[0]
    r = MILP(formulation="paths").solve(inst)
    assert r.status == "optimal"
    assert r.info["formulation"].startswith(("paths", "decomposed"))


@pytest.mark.parametrize("lp_solver", ["HIGHS", "CLARABEL"])
@pytest.mark.parametrize("formulation", ["paths", "transitions"])
def test_lp_bound_is_certified(lp_solver, formulation):
    for inst in CASES[:8]:
        opt = brute_force(inst)
        r = LPB(lp_solver=lp_solver, formulation=formulation).solve(inst)
        assert r.status == "feasible" and r.feasible
        assert r.bound <= opt.cost * (1 + 1e-9), (inst.name, r.bound, opt.cost)
        assert r.cost >= opt.cost * (1 - 1e-9)
        assert r.info["formulation"] == formulation


def test_paths_bound_at_least_transition_bound_up_to_tolerance():
    for inst in CASES[:8]:
        a = LPB(formulation="paths").solve(inst).bound
        b = LPB(formulation="transitions").solve(inst).bound
        assert a >= b - 1e-6 * max(1.0, abs(b))


def test_time_limit_gives_timeout_with_a_bound():
    inst = random_instance(3, n_jobs=20, layers=(10, 10), capacities=True, deadlines=True)
    r = MILP().solve(inst, time_limit=1.0)
    assert r.status in ("timeout", "optimal")
    assert r.wall_time < 10
    if r.status == "timeout":
        assert r.decision is not None and r.feasible
        assert r.bound is not None and r.bound <= r.cost


def test_bad_parameters():
    with pytest.raises(SolverError, match="'backend' parameter of solver milp-v1"):
        MILP(backend="gurobi")
    with pytest.raises(SolverError, match="'lp_solver' parameter of solver lp-bound-v1"):
        LPB(lp_solver="MOSEK")


def test_uncapacitated_is_decomposed_and_matches_dp():
    inst = random_instance(9, n_jobs=6, layers=(3, 6), deadlines=True)
    r = MILP().solve(inst)
    d = resolve("dp")().solve(inst)
    assert r.status == d.status == "optimal"
    assert r.cost == pytest.approx(d.cost, rel=1e-9)
    assert np.array_equal(r.decision, d.decision) or r.cost == pytest.approx(d.cost, rel=1e-12)
