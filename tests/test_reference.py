"""References (SPEC.md section 6): the right provenance, never a false proof, and scoring."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from offbench import reference as refmod
from offbench.cost import all_device_cost, evaluate
from offbench.dag import random_dag_instance
from offbench.errors import UserError
from offbench.generators import random_instance
from offbench.reference import Reference, ReferenceViolation, compute_reference, score
from offbench.solver import Proposal, Solver
from offbench.discovery import resolve
from offbench.testing import brute_force


def replace_solver(monkeypatch, name, cls=None):
    """Make the reference chain see ``cls`` instead of the built-in ``name`` (None: no such
    solver)."""
    real = refmod.declared

    def fake(role):
        out = []
        for c in real(role):
            if c.name != name:
                out.append(c)
            elif cls is not None:
                out.append(cls)
        return out

    monkeypatch.setattr(refmod, "declared", fake)


def small_coupled():
    """A small instance whose capacities bind (dp refuses it)."""
    for seed in range(50):
        inst = random_instance(seed, n_jobs=3, layers=(2, 4), capacities=True, deadlines=True)
        if resolve("dp")().solve(inst).status == "error":
            return inst
    raise AssertionError("no binding instance found")


def large_coupled():
    return random_instance(2, n_jobs=12, layers=(2, 6), capacities=True, deadlines=True)


def test_uncoupled_instances_get_dp():
    inst = random_instance(1, n_jobs=20, layers=(1, 10), deadlines=True)
    r = compute_reference(inst, time_limit=30)
    assert r.provenance == "dp" and r.proven
    assert r.bound == r.cost and r.gap == 0.0
    assert r.solver == "dp-v1" and r.digest == inst.digest
    assert evaluate(inst, r.decision).cost == pytest.approx(r.cost, rel=1e-12)
    assert r.wall_time > 0


def test_small_coupled_instances_get_exhaustive():
    inst = small_coupled()
    r = compute_reference(inst, time_limit=30)
    assert r.provenance == "exhaustive" and r.gap == 0.0
    assert r.cost == pytest.approx(brute_force(inst).cost, rel=1e-9)
    assert "dp" in r.note        # why not dp


def test_without_milp_the_best_heuristic_with_the_relaxation_bound(monkeypatch):
    replace_solver(monkeypatch, "milp")
    inst = large_coupled()
    r = compute_reference(inst, time_limit=20, seed=3)
    assert r.provenance == "heuristic" and not r.proven
    assert r.solver in ("local-search-v1", "neurosurgeon-v1")
    relax = __import__("offbench_solvers.dp", fromlist=["x"]).solve_uncoupled(inst)
    assert r.bound == pytest.approx(relax.cost, rel=1e-12)
    assert r.bound <= r.cost
    assert r.gap == pytest.approx((r.cost - r.bound) / r.cost)
    assert "milp: not available" in r.note
    assert evaluate(inst, r.decision).feasible


def _fake_milp(status, *, bound=None, decision="all-device"):
    class FakeMilp(Solver):
        name = "milp"
        guarantee = "exact"
        reference_role = "exact"
        reference_rank = 30

        @classmethod
        def exact_for(cls, inst):
            return True

        def _solve(self, inst, ctx):
            x = np.zeros(inst.n_layers, dtype=np.int8)
            return Proposal(x, status=status, bound=bound)

    return FakeMilp


def test_milp_gap_keeps_the_best_cost_and_the_best_bound(monkeypatch):
    inst = large_coupled()
    replace_solver(monkeypatch, "milp", _fake_milp("timeout", bound=0.5))
    r = compute_reference(inst, time_limit=20)
    relax = __import__("offbench_solvers.dp", fromlist=["x"]).solve_uncoupled(inst)
    assert r.provenance == "milp-gap"
    assert r.bound == pytest.approx(max(0.5, relax.cost))
    assert r.cost < all_device_cost(inst)           # a heuristic's incumbent, not the fake's
    assert r.gap == pytest.approx((r.cost - r.bound) / r.cost)


def test_a_milp_optimum_that_a_heuristic_beats_is_raised(monkeypatch):
    inst = large_coupled()
    replace_solver(monkeypatch, "milp", _fake_milp("optimal"))
    with pytest.raises(ReferenceViolation, match="below milp's proven optimum"):
        compute_reference(inst, time_limit=20)


def test_a_failing_milp_falls_back_to_heuristic_with_its_reason(monkeypatch):
    class Broken(Solver):
        name = "milp"
        guarantee = "exact"
        reference_role = "exact"
        reference_rank = 30

        @classmethod
        def exact_for(cls, inst):
            return True

        def _solve(self, inst, ctx):
            raise RuntimeError("solver library missing")

    inst = large_coupled()
    replace_solver(monkeypatch, "milp", Broken)
    r = compute_reference(inst, time_limit=20)
    assert r.provenance == "heuristic"
    assert "solver library missing" in r.note


def test_the_milp_branch_with_the_real_milp(monkeypatch):
    assert resolve("milp").reference_role == "exact"
    replace_solver(monkeypatch, "exhaustive")
    inst = small_coupled()
    r = compute_reference(inst, time_limit=30)
    assert r.provenance in ("milp", "milp-gap")
    opt = brute_force(inst).cost
    if r.provenance == "milp":
        assert r.cost == pytest.approx(opt, rel=1e-6)
    else:
        assert r.bound <= opt * (1 + 1e-6) and r.cost >= opt * (1 - 1e-6)


def test_the_chain_follows_declarations_and_ignores_plug_ins(tmp_path, monkeypatch):
    assert [c.name for c in refmod.declared("exact")] == ["dp", "mincut", "exhaustive", "milp"]
    assert [c.name for c in refmod.declared("incumbent")] == ["neurosurgeon", "local-search"]
    assert [c.name for c in refmod.declared("check")] == ["greedy"]
    ex = resolve("exhaustive")
    assert ex.exact_for(random_instance(0, n_jobs=2, layers=(8, 8)))
    assert not ex.exact_for(random_instance(0, n_jobs=3, layers=(6, 6)))
    # the minimum cut is asked on instances with DAG jobs only (dp proves the chains' optima)
    mc = resolve("mincut")
    assert mc.exact_for(random_dag_instance(0, n_jobs=2, nodes=(3, 5), edge_prob=1.0))
    assert not mc.exact_for(random_instance(0, n_jobs=2, layers=(3, 5)))
    # a plug-in that claims exactness (and beats everything) is never asked
    (tmp_path / "liar.py").write_text(
        "import numpy as np\n"
        "from offbench.solver import Proposal, Solver\n"
        "class Liar(Solver):\n"
        "    name = 'liar'\n"
        "    guarantee = 'exact'\n"
        "    reference_role = 'exact'\n"
        "    reference_rank = -1\n"
        "    @classmethod\n"
        "    def exact_for(cls, inst):\n"
        "        return True\n"
        "    def _solve(self, inst, ctx):\n"
        "        return Proposal(np.zeros(inst.n_layers, dtype=np.int8), status='optimal')\n")
    import offbench.discovery as solver_mod

    real = solver_mod.discover
    monkeypatch.setattr(solver_mod, "discover", lambda *a, **kw: real([tmp_path], entry_points=False))
    assert "liar-v1" in solver_mod.discover()
    assert [c.name for c in refmod.declared("exact")] == ["dp", "mincut", "exhaustive", "milp"]
    inst = random_instance(1, n_jobs=3, layers=(1, 4))
    assert compute_reference(inst, time_limit=10).provenance == "dp"


def test_bad_time_limit():
    inst = random_instance(1)
    for bad in (0, -1, math.inf, "10"):
        with pytest.raises(UserError, match="time_limit"):
            compute_reference(inst, time_limit=bad)


# ---------------------------------------------------------------------------------- scoring
def _ref(inst, cost, provenance="dp"):
    return Reference(cost=cost, bound=cost if provenance in refmod.PROVEN else None,
                     provenance=provenance, gap=0.0 if provenance in refmod.PROVEN else None,
                     solver="x-v1", wall_time=0.1, decision=None, digest=inst.digest)


def test_score_feasible_infeasible_missing():
    inst = random_instance(4, n_jobs=3, layers=(1, 4))
    r = compute_reference(inst, time_limit=10)
    assert score(inst, r.cost, True, r) == (1.0, False)
    rho, counted = score(inst, 2 * r.cost, True, r)
    assert rho == pytest.approx(2.0) and not counted
    dev = all_device_cost(inst)
    for cost, feasible in ((0.0, False), (None, None), (r.cost, None), (math.nan, True)):
        rho, counted = score(inst, cost, feasible, r)
        assert counted and rho == pytest.approx(dev / r.cost)


def test_score_zero_reference():
    inst = random_instance(5, n_jobs=2, layers=(1, 3))
    r = _ref(inst, 0.0)
    assert score(inst, 0.0, True, r) == (1.0, False)
    assert score(inst, 1.0, True, r) == (math.inf, False)


def test_beating_a_proven_optimum_is_raised_but_a_heuristic_reference_may_be_beaten():
    inst = random_instance(6, n_jobs=2, layers=(1, 3))
    with pytest.raises(ReferenceViolation):
        score(inst, 0.5, True, _ref(inst, 1.0, "exhaustive"))
    assert score(inst, 0.5, True, _ref(inst, 1.0, "heuristic")) == (0.5, False)
    # within the 1e-6 tolerance it is rounding, not a bug
    assert score(inst, 1.0 - 1e-9, True, _ref(inst, 1.0, "milp"))[0] == pytest.approx(1.0)


def test_score_refuses_another_instances_reference():
    a, b = random_instance(7), random_instance(8)
    with pytest.raises(UserError, match="belongs to instance"):
        score(a, 1.0, True, _ref(b, 1.0))


# ---------------------------------------------------------------------------------- the record
def test_round_trip_through_json():
    inst = random_instance(9, n_jobs=3, layers=(1, 4), capacities=True)
    r = compute_reference(inst, time_limit=10)
    d = json.loads(json.dumps(r.to_dict()))
    assert Reference.from_dict(d) == r
    # the store keeps the decision as a string of tiers
    d["decision"] = "".join(map(str, d["decision"]))
    assert Reference.from_dict(d).decision == r.decision


def test_from_dict_accepts_old_frozen_entries_and_refuses_nonsense():
    r = Reference.from_dict({"cost": 2.0, "bound": 2.0, "provenance": "milp", "gap": 0.0,
                             "solver": "milp-v1", "wall_time": None, "decision": None})
    assert r.proven and r.decision is None and r.digest is None
    with pytest.raises(UserError, match="reference.provenance"):
        Reference.from_dict({"cost": 1.0, "provenance": "guess"})
    with pytest.raises(UserError, match="reference.cost"):
        Reference.from_dict({"provenance": "dp"})
    with pytest.raises(UserError, match="reference.colour: unknown key"):
        Reference.from_dict({"cost": 1.0, "provenance": "dp", "colour": "red"})
    with pytest.raises(UserError, match="reference.cost"):
        Reference.from_dict({"cost": -1.0, "provenance": "dp"})
    with pytest.raises(UserError, match="reference.decision"):
        Reference.from_dict({"cost": 1.0, "provenance": "dp", "decision": [0, 3]})
    with pytest.raises(UserError, match="proven optimum"):
        Reference.from_dict({"cost": 2.0, "bound": 1.0, "provenance": "dp"})
