"""The classical baselines and local search: feasible, never below the optimum, and doing
exactly what their docstrings say (checked against plain-Python versions of each rule)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offbench.cost import MoveState, evaluate
from offbench.generators import random_instance
from offbench.solver import SolverError
from offbench.discovery import resolve

import offbench_solvers.heuristics as heur
import offbench_solvers.local_search as ls_mod

HEURISTICS = ("all-device", "all-edge", "all-cloud", "random", "greedy", "neurosurgeon",
              "local-search")


@pytest.fixture(scope="module")
def exhaustive():
    return resolve("exhaustive")()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6), capacities=st.booleans(), deadlines=st.booleans(),
       zero=st.sampled_from([0.0, 0.3]))
def test_feasible_and_never_below_the_optimum(exhaustive, seed, capacities, deadlines, zero):
    inst = random_instance(seed, n_devices=2, n_jobs=3, layers=(1, 3), capacities=capacities,
                           deadlines=deadlines, zero_fraction=zero)
    opt = exhaustive.solve(inst)
    assert opt.status == "optimal"
    for name in HEURISTICS:
        res = resolve(name)().solve(inst, seed=seed)
        assert res.status == "feasible", (name, res.error)
        assert res.feasible, name
        assert res.bound is None
        assert res.cost >= opt.cost * (1 - 1e-9), f"{name} beat the proven optimum: a bug"


@pytest.mark.parametrize("name", HEURISTICS)
def test_deterministic_under_a_seed(name):
    inst = random_instance(3, n_jobs=6, layers=(2, 6), capacities=True, deadlines=True)
    s = resolve(name)()
    a, b = s.solve(inst, seed=4), s.solve(inst, seed=4)
    assert np.array_equal(a.decision, b.decision) and a.cost == b.cost


def test_random_depends_on_the_seed():
    inst = random_instance(3, n_jobs=6, layers=(4, 6))
    s = resolve("random")()
    assert not np.array_equal(s.solve(inst, seed=1).decision, s.solve(inst, seed=2).decision)


def test_all_device_and_fixed_placements_without_capacities():
    inst = random_instance(2, n_jobs=4, layers=(1, 5))
    assert not resolve("all-device")().solve(inst).decision.any()
    assert (resolve("all-edge")().solve(inst).decision == 1).all()
    assert (resolve("all-cloud")().solve(inst).decision == 2).all()


def plain_repair(inst, x):
    """The repair rule in plain Python: recompute every price, move the cheapest per op."""
    ms = MoveState(inst, x)
    cap = ms.t.cap
    while not ms.feasible:
        cands = []
        for l in range(inst.n_layers):
            k = int(ms.x[l])
            if k == 0 or inst.ops[l] == 0 or ms.load[k] <= cap[k]:
                continue
            cands.append((ms.delta(l, 0)[0] / inst.ops[l], l))
        _, l = min(cands)
        ms.apply(l, 0)
    return ms.x


@pytest.mark.parametrize("seed", range(8))
def test_repair_follows_its_rule(seed):
    inst = random_instance(seed, n_jobs=5, layers=(1, 5), capacities=True,
                           deadlines=seed % 2 == 0, zero_fraction=0.2)
    x = np.random.default_rng(seed).integers(0, 3, inst.n_layers).astype(np.int8)
    y, moves, _ = heur.repair(inst, x)
    assert evaluate(inst, y).feasible
    changed = y != x
    assert (y[changed] == 0).all(), "repair only moves layers to their device"
    assert not (changed & (inst.ops == 0)).any(), "zero-ops layers free nothing"
    assert moves == int(changed.sum())
    assert np.array_equal(y, plain_repair(inst, x))


def test_repair_leaves_a_feasible_decision_alone():
    inst = random_instance(1, n_jobs=5, layers=(1, 5), capacities=True)
    x = np.zeros(inst.n_layers, dtype=np.int8)
    x[0] = 1
    y, moves, _ = heur.repair(inst, x)
    if evaluate(inst, x).feasible:
        assert moves == 0 and np.array_equal(x, y)


def test_zero_capacity_edge_repairs_all_edge_to_the_device():
    inst = random_instance(6, n_jobs=3, layers=(2, 4), zero_fraction=0.0).replace(edge_capacity=0.0)
    res = resolve("all-edge")().solve(inst)
    assert res.feasible and not res.decision.any()
    assert res.info["repair_moves"] == inst.n_layers


def plain_greedy(inst):
    ms = MoveState(inst)
    cap = ms.t.cap
    for l in range(inst.n_layers):
        best, bk = 0.0, 0
        for k in (1, 2):
            if ms.load[k] + inst.ops[l] <= cap[k]:
                d = ms.delta(l, k)[0]
                if d < best:
                    best, bk = d, k
        if bk:
            ms.apply(l, bk)
    return ms.x


@pytest.mark.parametrize("seed", range(6))
def test_greedy_follows_its_rule(seed):
    inst = random_instance(seed, n_jobs=5, layers=(1, 6), capacities=seed % 2 == 0,
                           deadlines=seed % 3 == 0)
    res = resolve("greedy")().solve(inst)
    assert res.feasible
    assert np.array_equal(res.decision, plain_greedy(inst))


def cuts(inst, x):
    """Per job: (cut, tier) if the job's decision is a device prefix then one remote tier."""
    out = []
    for i in range(inst.n_jobs):
        xi = x[inst.layer_offsets[i]:inst.layer_offsets[i + 1]]
        remote = np.flatnonzero(xi)
        if remote.size == 0:
            out.append((xi.size, 0))
            continue
        c = int(remote[0])
        assert (xi[c:] == xi[c]).all(), f"job {i} is not a single cut: {xi}"
        out.append((c, int(xi[c])))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_neurosurgeon_takes_each_jobs_best_single_cut(seed):
    inst = random_instance(seed, n_jobs=4, layers=(1, 6), deadlines=seed % 2 == 0)
    res = resolve("neurosurgeon")().solve(inst)
    got = evaluate(inst, res.decision)
    cuts(inst, res.decision)
    for i in range(inst.n_jobs):
        lo, hi = inst.layer_offsets[i], inst.layer_offsets[i + 1]
        best = np.inf
        for r in (1, 2):
            for c in range(hi - lo + 1):
                x = res.decision.copy()
                x[lo:hi] = 0
                x[lo + c:hi] = r
                best = min(best, evaluate(inst, x).jobs[i].cost)
        assert got.jobs[i].cost == pytest.approx(best, rel=1e-12), i


@pytest.mark.parametrize("seed", range(6))
def test_neurosurgeon_keeps_single_cuts_under_capacities(seed):
    inst = random_instance(seed, n_jobs=8, layers=(2, 6), capacities=True, deadlines=True)
    res = resolve("neurosurgeon")().solve(inst)
    assert res.feasible
    cuts(inst, res.decision)


def assert_local_optimum(inst, x):
    ms = MoveState(inst, x)
    cap = ms.t.cap
    for l in range(inst.n_layers):
        for k in range(3):
            if k == ms.x[l]:
                continue
            d, de, dc = ms.delta(l, k)
            if ms.load[1] + de <= cap[1] and ms.load[2] + dc <= cap[2]:
                assert d >= -1e-12 * abs(ms.cost) - 1e-300, (l, k, d)


@pytest.mark.parametrize("seed", range(6))
def test_local_search_ends_at_a_local_optimum(seed):
    inst = random_instance(seed, n_jobs=6, layers=(1, 8), capacities=seed % 2 == 0,
                           deadlines=seed % 3 == 0)
    res = resolve("local-search")(restarts=3).solve(inst, seed=seed)
    assert res.feasible and res.status == "feasible"
    assert res.info["descents"] == 3
    assert_local_optimum(inst, res.decision)
    assert res.cost <= resolve("greedy")().solve(inst).cost * (1 + 1e-12)


def test_local_search_time_limit(monkeypatch):
    monkeypatch.setattr(ls_mod, "BATCH", 8)
    inst = random_instance(1, n_jobs=300, layers=(5, 20), capacities=True, deadlines=True)
    res = resolve("local-search")(restarts=50).solve(inst, time_limit=0.05)
    assert res.status == "timeout" and res.feasible
    assert res.info["descents"] < 50


def test_local_search_rejects_bad_restarts():
    with pytest.raises(SolverError, match="restarts"):
        resolve("local-search")(restarts=0)


@pytest.mark.slow
def test_never_below_the_optimum_thoroughly(exhaustive):
    solvers = [resolve(name)() for name in HEURISTICS]
    for seed in range(200):
        rng = np.random.default_rng(seed)
        inst = random_instance(seed, n_devices=3, n_jobs=int(rng.integers(1, 5)), layers=(1, 4),
                               capacities=seed % 2 == 0, deadlines=seed % 3 == 0,
                               zero_fraction=float(rng.choice([0.0, 0.3])))
        if inst.n_layers > 12:
            continue
        opt = exhaustive.solve(inst).cost
        for s in solvers:
            res = s.solve(inst, seed=seed)
            assert res.feasible and res.cost >= opt * (1 - 1e-9), (seed, s.id)
