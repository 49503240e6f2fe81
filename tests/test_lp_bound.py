"""The ``lp-bound`` solver: its bound is certified (never above the brute-force optimum, for
either relaxation and every LP solver), its decision is feasible and priced by the cost model,
and the path relaxation is at least as strong as the transition relaxation."""

from __future__ import annotations

import pytest

from offbench.generators import random_instance
from offbench.solver import SolverError
from offbench.discovery import resolve
from offbench.testing import brute_force

LPB = resolve("lp-bound")
MILP = resolve("milp")


def cases():
    out = []
    for seed in range(10):
        out.append(random_instance(600 + seed, n_devices=2, n_jobs=1 + seed % 3, layers=(1, 4),
                                   capacities=seed % 2 == 0, deadlines=seed % 4 < 2,
                                   zero_fraction=0.3))
    return out


CASES = cases()
OPTIMA = {inst.name: brute_force(inst).cost for inst in CASES}


@pytest.mark.parametrize("lp_solver", ["HIGHS", "CLARABEL"])
@pytest.mark.parametrize("formulation", ["paths", "transitions"])
def test_bound_is_certified_and_decision_feasible(lp_solver, formulation):
    solver = LPB(lp_solver=lp_solver, formulation=formulation)
    for inst in CASES:
        opt = OPTIMA[inst.name]
        r = solver.solve(inst)
        assert r.status == "feasible" and r.feasible, (inst.name, r.error)
        assert r.bound <= opt + 1e-12 * max(1.0, abs(opt)), (inst.name, r.bound, opt)
        assert r.cost >= opt * (1 - 1e-12)
        assert r.info["formulation"] == formulation
        assert r.evaluations >= 1


def test_inaccurate_lp_still_gives_a_valid_bound():
    """SCS (first-order, loose tolerances): the bound is weaker at worst, never wrong."""
    for formulation in ("paths", "transitions"):
        for inst in CASES[:6]:
            r = LPB(lp_solver="SCS", formulation=formulation).solve(inst)
            assert r.status == "feasible", r.error
            assert r.bound <= OPTIMA[inst.name] + 1e-12 * max(1.0, OPTIMA[inst.name])


def test_paths_bound_at_least_transition_bound():
    for inst in CASES:
        a = LPB(formulation="paths").solve(inst).bound
        b = LPB(formulation="transitions").solve(inst).bound
        assert a >= b - 1e-6 * max(1.0, abs(b))


def test_uncapacitated_bound_is_the_optimum():
    """Without capacities the path relaxation is exact: bound and rounded decision are optimal."""
    for seed in range(3):
        inst = random_instance(40 + seed, n_jobs=4, layers=(2, 5), deadlines=True)
        r = LPB().solve(inst)
        d = resolve("dp")().solve(inst)
        assert r.bound == pytest.approx(d.cost, rel=1e-9)
        assert r.cost == pytest.approx(d.cost, rel=1e-9)


def test_cvxpy_column_generation_matches_glop():
    """The same path LP solved through cvxpy and through OR-Tools Glop (inside milp)."""
    inst = random_instance(12, n_jobs=8, layers=(4, 6), capacities=True, deadlines=True)
    r = LPB().solve(inst)
    m = MILP().solve(inst)
    assert r.info["converged"]
    assert r.bound == pytest.approx(m.info["lagrangian_bound"], rel=1e-6)
    assert r.bound <= m.cost


def test_time_limit_keeps_a_valid_bound():
    inst = random_instance(3, n_jobs=20, layers=(10, 10), capacities=True, deadlines=True)
    r = LPB().solve(inst, time_limit=0.05)
    assert r.status in ("timeout", "feasible")
    assert r.feasible and r.bound is not None and r.bound <= r.cost


def test_bad_parameters():
    with pytest.raises(SolverError, match="'lp_solver' parameter of solver lp-bound-v1"):
        LPB(lp_solver="MOSEK")
    with pytest.raises(SolverError, match="'formulation' parameter"):
        LPB(formulation="auto")
    with pytest.raises(SolverError, match="max_labels"):
        LPB(max_labels=100)                  # pricing is dp's exact per-job solver: no limit


# A valid DAG instance at SPEC.md's extremes (a bug hunt's seed 1048): its LP's coefficients
# span 1e-30 .. 1e60, HiGHS under cvxpy answered "Cannot unpack invalid solution" and CLARABEL
# "infeasible", and lp-bound an error.
EXTREME = {"format": "offbench-instance", "version": 2, "name": "h1048",
           "weights": {"time": 1e-30, "energy": 0.0, "tardiness": 1e-15},
           "edge": {"speed": 1.0, "energy_per_op": 1e30, "capacity": 1e30},
           "cloud": {"speed": 1e-15, "energy_per_op": 1e-12, "capacity": 1e30},
           "backhaul": {"rate": 1e30, "latency": 1.0, "energy_per_bit": 1e-15},
           "devices": [{"speed": 1e30, "power_compute": 1e-30, "power_tx": 1e30,
                        "power_rx": 1e-6, "rate_up": 1e-6, "rate_down": 5e7, "latency": 1.0}],
           "jobs": [{"device": 0, "ops": [1e-15, 2e8, 1e30], "edges": [[1, 2]],
                     "in_bits": 1e6, "out_bits": [1e-15, 1e-30, 1e15], "deadline": 1e-15}]}


@pytest.mark.parametrize("lp_solver", ["HIGHS", "CLARABEL"])
def test_extreme_coefficients_give_a_bound_not_an_error(lp_solver):
    from offbench.instance import Instance

    inst = Instance.from_dict(EXTREME)
    opt = brute_force(inst).cost
    r = LPB(lp_solver=lp_solver).solve(inst)
    assert r.status == "feasible" and r.feasible, r.error
    assert r.bound is not None and 0.0 <= r.bound <= opt * (1 + 1e-12)
    assert r.cost >= opt * (1 - 1e-12)


@pytest.mark.parametrize("formulation", ["paths", "transitions"])
def test_a_failed_lp_falls_back_to_the_minimum_cut_bound(monkeypatch, formulation):
    import cvxpy as cp

    def fail(self, *a, **k):
        raise cp.error.SolverError("Solver 'HIGHS' failed.")

    monkeypatch.setattr(cp.Problem, "solve", fail)
    # (with capacities: without, the path relaxation solves no LP)
    for inst in [c for c in CASES if c.has_capacities][:3]:
        opt = OPTIMA[inst.name]
        r = LPB(formulation=formulation).solve(inst)
        assert r.status == "feasible" and r.feasible, r.error
        assert "SolverError" in r.info["lp_failed"]
        assert r.info["bound_source"].startswith("mincut")
        assert r.bound <= opt * (1 + 1e-12) and r.cost >= opt * (1 - 1e-12)
