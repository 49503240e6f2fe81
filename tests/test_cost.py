"""The Numba cost model against the plain-Python reference of SPEC.md, golden cases, and
invariants (hypothesis)."""

from __future__ import annotations

import copy
import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import offbench
from offbench.cost import MoveState, all_device_cost, evaluate, evaluate_many, tables
from offbench.errors import DecisionError
from offbench.generators import random_instance

from . import reference_model as ref
from .strategies import instance_and_decisions, instance_dicts

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SPEC_EXAMPLE = {
    "format": "offbench-instance", "version": 1, "name": "example",
    "weights": {"time": 1.0, "energy": 0.5, "tardiness": 10.0},
    "edge": {"speed": 1.0e12, "energy_per_op": 0.0, "capacity": None},
    "cloud": {"speed": 1.0e13, "energy_per_op": 0.0, "capacity": None},
    "backhaul": {"rate": 1.0e8, "latency": 0.02, "energy_per_bit": 0.0},
    "devices": [{"speed": 1.0e10, "power_compute": 3.0, "power_tx": 1.0, "power_rx": 0.3,
                 "rate_up": 2.0e7, "rate_down": 5.0e7, "latency": 0.005}],
    "jobs": [{"device": 0, "ops": [2.0e8, 4.0e8, 1.0e8], "bits": [1.2e6, 6.0e5, 2.0e5, 8.0e3],
              "deadline": 0.5, "weight": 1.0}],
}


def scale_of(d, out) -> float:
    """Magnitude of the terms summed into a cost: the tolerance is 1e-12 relative to it."""
    w = d["weights"]
    s = 0.0
    for job, j in zip(d["jobs"], out["jobs"]):
        s += job.get("weight", 1.0) * (w["time"] * j["time"] + w["energy"] * j["energy"]
                                      + w.get("tardiness", 0.0) * (j["time"] + job.get("deadline", 0.0)))
    return s


def assert_matches_reference(d, x, ev):
    r = ref.evaluate(d, x)
    tol = 1e-12 * scale_of(d, r) + 1e-300
    assert abs(ev.cost - r["cost"]) <= tol, (ev.cost, r["cost"])
    assert ev.feasible == r["feasible"]
    assert math.isclose(ev.load["edge"], r["load"]["edge"], rel_tol=1e-12, abs_tol=1e-300)
    assert math.isclose(ev.load["cloud"], r["load"]["cloud"], rel_tol=1e-12, abs_tol=1e-300)
    for a, b in zip(ev.jobs, r["jobs"]):
        assert math.isclose(a.time, b["time"], rel_tol=1e-12, abs_tol=1e-300)
        assert math.isclose(a.energy, b["energy"], rel_tol=1e-12, abs_tol=1e-300)
        assert abs(a.tardiness - b["tardiness"]) <= 1e-12 * (b["time"] + 1e-300)
        assert abs(a.cost - b["cost"]) <= tol


# ------------------------------------------------------------------------------- golden cases
class TestGolden:
    """Hand-computed costs of the SPEC.md example (w.time 1, w.energy 0.5, w.tardiness 10)."""

    inst = offbench.Instance.from_dict(SPEC_EXAMPLE)

    def test_all_device(self):
        # compute: (2e8 + 4e8 + 1e8) / 1e10 = 0.07 s; no transfer (0 -> 0 everywhere)
        # energy:  3.0 W * 0.07 s = 0.21 J
        # cost:    0.07 + 0.5 * 0.21 = 0.175; deadline 0.5 met
        ev = evaluate(self.inst, [0, 0, 0])
        assert ev.jobs[0].time == pytest.approx(0.07, rel=1e-14)
        assert ev.jobs[0].energy == pytest.approx(0.21, rel=1e-14)
        assert ev.cost == pytest.approx(0.175, rel=1e-14)
        assert ev.feasible and ev.load == {"edge": 0.0, "cloud": 0.0}

    def test_edge_cloud_device(self):
        # x = [1, 2, 0], path 0 -> 1 -> 2 -> 0 -> 0
        # b0 = 1.2e6, 0->1 up:          1.2e6/2e7 + 0.005 = 0.065 s,  1.0*1.2e6/2e7 = 0.06 J
        # layer 1 on edge:              2e8/1e12          = 0.0002 s, 0 J
        # b1 = 6e5, 1->2 backhaul:      6e5/1e8 + 0.02    = 0.026 s,  0 J
        # layer 2 on cloud:             4e8/1e13          = 0.00004 s
        # b2 = 2e5, 2->0 backhaul+down: 2e5/1e8 + 0.02 + 2e5/5e7 + 0.005 = 0.031 s, 0.3*2e5/5e7 = 0.0012 J
        # layer 3 on device:            1e8/1e10 = 0.01 s, 3.0*0.01 = 0.03 J
        # b3: 0 -> 0, nothing.
        # T = 0.13224 s, E = 0.0912 J, cost = 0.13224 + 0.5*0.0912 = 0.17784
        ev = evaluate(self.inst, [1, 2, 0])
        assert ev.jobs[0].time == pytest.approx(0.13224, rel=1e-13)
        assert ev.jobs[0].energy == pytest.approx(0.0912, rel=1e-13)
        assert ev.cost == pytest.approx(0.17784, rel=1e-13)
        assert ev.load == {"edge": 2e8, "cloud": 4e8}

    def test_all_cloud_tardy(self):
        # deadline 0.05, x = [2, 2, 2]
        # b0 0->2 up + backhaul: (1.2e6/2e7 + 0.005) + (1.2e6/1e8 + 0.02) = 0.065 + 0.032 = 0.097 s
        #                        energy up only: 0.06 J
        # cloud compute 7e8/1e13 = 0.00007 s; b1, b2 stay on the cloud: nothing
        # b3 = 8e3, 2->0 backhaul + down: (8e3/1e8 + 0.02) + (8e3/5e7 + 0.005) = 0.02008 + 0.00516
        #                        energy down: 0.3 * 8e3/5e7 = 0.000048 J
        # T = 0.12231, E = 0.060048, U = 0.12231 - 0.05 = 0.07231
        # cost = 0.12231 + 0.5*0.060048 + 10*0.07231 = 0.875434
        d = copy.deepcopy(SPEC_EXAMPLE)
        d["jobs"][0]["deadline"] = 0.05
        ev = evaluate(offbench.Instance.from_dict(d), [2, 2, 2])
        assert ev.jobs[0].time == pytest.approx(0.12231, rel=1e-13)
        assert ev.jobs[0].energy == pytest.approx(0.060048, rel=1e-13)
        assert ev.jobs[0].tardiness == pytest.approx(0.07231, rel=1e-12)
        assert ev.cost == pytest.approx(0.875434, rel=1e-13)

    def test_capacity_boundary_and_latency_with_zero_bits(self):
        # Two jobs of one 1e9-op layer each, zero bits everywhere; edge capacity 1e9:
        # one job fits on the edge, both do not. A hop's latency counts even with b = 0:
        # x = [1, 0]: job 0 pays up (0 + 0.005) and down (0 + 0.005) = 0.01 s plus 1e9/1e12 s.
        d = copy.deepcopy(SPEC_EXAMPLE)
        d["weights"] = {"time": 1.0, "energy": 0.0}
        d["edge"]["capacity"] = 1e9
        d["jobs"] = [{"device": 0, "ops": [1e9], "bits": [0, 0]},
                     {"device": 0, "ops": [1e9], "bits": [0, 0]}]
        inst = offbench.Instance.from_dict(d)
        ev = evaluate(inst, [1, 0])
        assert ev.feasible
        assert ev.jobs[0].time == pytest.approx(0.01 + 1e-3, rel=1e-14)
        assert ev.jobs[1].time == pytest.approx(0.1, rel=1e-14)
        assert not evaluate(inst, [1, 1]).feasible
        # Within the 1e-9 relative tolerance counts as fitting.
        d["edge"]["capacity"] = 1e9 * (1 - 5e-10)
        assert evaluate(offbench.Instance.from_dict(d), [1, 0]).feasible
        d["edge"]["capacity"] = 1e9 * (1 - 2e-9)
        assert not evaluate(offbench.Instance.from_dict(d), [1, 0]).feasible


# ------------------------------------------------------------------------------- against the reference
@SETTINGS
@given(instance_and_decisions())
def test_evaluate_matches_reference(case):
    d, xs = case
    inst = offbench.Instance.from_dict(d)
    for x in xs:
        assert_matches_reference(d, x, evaluate(inst, x))


@SETTINGS
@given(instance_and_decisions(n_decisions=8))
def test_batch_matches_reference_and_single(case):
    d, xs = case
    inst = offbench.Instance.from_dict(d)
    X = np.array(xs, dtype=np.int8)
    for parallel in (True, False):
        costs, feas, loads = evaluate_many(inst, X, with_feasibility=True, parallel=parallel)
        for r, x in enumerate(xs):
            want = ref.evaluate(d, x)
            single = evaluate(inst, x)
            tol = 1e-12 * scale_of(d, want) + 1e-300
            assert abs(costs[r] - want["cost"]) <= tol
            assert abs(costs[r] - single.cost) <= tol
            assert feas[r] == want["feasible"] == single.feasible
            assert math.isclose(loads[r, 0], want["load"]["edge"], rel_tol=1e-12, abs_tol=1e-300)
            assert math.isclose(loads[r, 1], want["load"]["cloud"], rel_tol=1e-12, abs_tol=1e-300)


@SETTINGS
@given(instance_dicts())
def test_all_device_is_feasible(d):
    inst = offbench.Instance.from_dict(d)
    ev = evaluate(inst, [0] * inst.n_layers)
    assert ev.feasible and ev.load == {"edge": 0.0, "cloud": 0.0}
    assert all_device_cost(inst) == ev.cost


@SETTINGS
@given(instance_and_decisions(n_decisions=2), st.data())
def test_move_equals_full_reevaluation(case, data):
    d, xs = case
    inst = offbench.Instance.from_dict(d)
    s = MoveState(inst, xs[0])
    assert abs(s.cost - evaluate(inst, xs[0]).cost) <= 1e-12 * scale_of(d, ref.evaluate(d, xs[0])) + 1e-300
    # Incremental costs drift by rounding relative to the largest cost met on the walk.
    walk_scale = scale_of(d, ref.evaluate(d, xs[0]))
    for _ in range(10):
        layer = data.draw(st.integers(0, inst.n_layers - 1))
        tier = data.draw(st.integers(0, 2))
        before = evaluate(inst, s.x)
        d_cost, d_edge, d_cloud = s.delta(layer, tier)
        x2 = s.x.copy()
        x2[layer] = tier
        after = evaluate(inst, x2)
        tol = 1e-11 * (scale_of(d, ref.evaluate(d, list(x2))) + scale_of(d, ref.evaluate(d, list(s.x)))) + 1e-300
        assert abs(d_cost - (after.cost - before.cost)) <= tol
        assert math.isclose(d_edge, after.load["edge"] - before.load["edge"], rel_tol=1e-9, abs_tol=1e-6 * (1 + before.load["edge"]))
        assert math.isclose(d_cloud, after.load["cloud"] - before.load["cloud"], rel_tol=1e-9, abs_tol=1e-6 * (1 + before.load["cloud"]))
        walk_scale = max(walk_scale, scale_of(d, ref.evaluate(d, list(x2))))
        applied = s.apply(layer, tier)
        assert applied == d_cost
        assert np.array_equal(s.x, x2)
        for k, tier_name in ((1, "edge"), (2, "cloud")):
            assert math.isclose(s.load[k], after.load[tier_name], rel_tol=1e-9,
                                abs_tol=1e-9 * float(np.sum(inst.ops)))
    final = evaluate(inst, s.x)
    assert abs(s.cost - final.cost) <= 1e-11 * walk_scale + 1e-300


def test_all_moves_exhaustively_on_random_instances():
    """Every (layer, tier) move from every decision of two small instances."""
    for seed in (0, 1):
        inst = random_instance(seed, n_jobs=2, layers=(2, 3), capacities=True, deadlines=True)
        d = inst.to_dict()
        for x in itertools.product(range(3), repeat=inst.n_layers):
            s = MoveState(inst, x)
            base = ref.evaluate(d, list(x))["cost"]
            for layer in range(inst.n_layers):
                for tier in range(3):
                    y = list(x)
                    y[layer] = tier
                    want = ref.evaluate(d, y)["cost"] - base
                    got = s.delta(layer, tier)[0]
                    assert abs(got - want) <= 1e-11 * max(1.0, abs(base))


# ------------------------------------------------------------------------------- degenerate and errors
def test_degenerate_one_job_one_layer_zero_everything():
    d = copy.deepcopy(SPEC_EXAMPLE)
    d["jobs"] = [{"device": 0, "ops": [0.0], "bits": [0.0, 0.0]}]
    d["backhaul"]["latency"] = 0.0
    d["devices"][0]["latency"] = 0.0
    inst = offbench.Instance.from_dict(d)
    for x in ([0], [1], [2]):
        assert evaluate(inst, x).cost == 0.0
    d["edge"]["capacity"] = 0.0
    d["cloud"]["capacity"] = 0.0
    inst = offbench.Instance.from_dict(d)
    assert evaluate(inst, [1]).feasible  # zero ops on a zero-capacity tier fit
    d["jobs"][0]["ops"] = [1.0]
    assert not evaluate(offbench.Instance.from_dict(d), [1]).feasible


def test_decision_errors_name_the_problem():
    inst = offbench.Instance.from_dict(SPEC_EXAMPLE)
    with pytest.raises(DecisionError, match=r"expected 3 values .* got 2"):
        evaluate(inst, [0, 1])
    with pytest.raises(DecisionError, match=r"decision\[1\].*got 3"):
        evaluate(inst, [0, 3, 0])
    with pytest.raises(DecisionError, match=r"decision\[2\]"):
        evaluate(inst, [0, 1, -1])
    with pytest.raises(DecisionError, match=r"decision\[0\]"):
        evaluate(inst, [0.5, 1, 1])
    with pytest.raises(DecisionError, match=r"decisions\[1, 2\].*got 7"):
        evaluate_many(inst, np.array([[0, 0, 0], [0, 0, 7]], dtype=np.int8))
    with pytest.raises(DecisionError, match=r"decisions\[0, 0\].*got 300"):
        evaluate_many(inst, np.array([[300, 0, 0]]))
    with pytest.raises(DecisionError, match=r"shape \(m, 3\)"):
        evaluate_many(inst, np.zeros((2, 4), dtype=np.int8))
    with pytest.raises(DecisionError, match=r"shape \(m, 3\)"):
        evaluate_many(inst, np.zeros(3, dtype=np.int8))
    with pytest.raises(DecisionError, match=r"decisions: not an array of tiers"):
        evaluate_many(inst, [[0, 0, 0], [0, 0]])   # rows of different lengths


def test_move_state_refuses_a_layer_or_tier_out_of_range():
    # the kernels index without bounds checks: layer n_layers read past the tables (then an
    # IndexError), a far larger one crashed the interpreter, -1 priced the last layer
    inst = random_instance(3, n_jobs=2, layers=(2, 3), capacities=True)
    ms = MoveState(inst)
    n = inst.n_layers
    for layer, tier, match in ((n, 1, rf"layer must be an int in \[0, {n}\), got {n}"),
                               (-1, 1, r"layer must be an int in \[0, \d+\), got -1"),
                               (1.0, 1, r"layer must be an int .* got 1.0"),
                               (0, 3, r"tier must be 0, 1 or 2, got 3"),
                               (0, -1, r"tier must be 0, 1 or 2, got -1")):
        for call in (ms.delta, ms.move_fits, ms.apply):
            with pytest.raises(DecisionError, match=match):
                call(layer, tier)
    assert not ms.x.any() and ms.cost == pytest.approx(all_device_cost(inst), rel=1e-12)  # unmoved
    assert ms.apply(np.int64(n - 1), np.int8(2)) == pytest.approx(
        evaluate(inst, [0] * (n - 1) + [2]).cost - all_device_cost(inst), rel=1e-9, abs=1e-12)


def test_batch_accepts_other_int_dtypes_and_empty():
    inst = random_instance(5, n_jobs=3)
    X = np.random.default_rng(0).integers(0, 3, (20, inst.n_layers))
    assert np.array_equal(evaluate_many(inst, X), evaluate_many(inst, X.astype(np.int8)))
    assert evaluate_many(inst, np.zeros((0, inst.n_layers), dtype=np.int8)).shape == (0,)


def test_tables_are_cached_and_read_only():
    inst = random_instance(1)
    t = tables(inst)
    assert tables(inst) is t
    assert not t.comp_c.flags.writeable
    with pytest.raises(ValueError):
        t.comp_c[0, 0] = 1.0


def test_batch_large_random_agrees_with_single():
    inst = random_instance(7, n_jobs=20, layers=(1, 12), capacities=True, deadlines=True)
    X = np.random.default_rng(1).integers(0, 3, (300, inst.n_layers)).astype(np.int8)
    costs, feas, _ = evaluate_many(inst, X, with_feasibility=True)
    d = inst.to_dict()
    for r in range(0, 300, 37):
        want = ref.evaluate(d, X[r].tolist())
        assert math.isclose(costs[r], want["cost"], rel_tol=1e-12)
        assert feas[r] == want["feasible"]


# ---------------------------------------------------------------------------------- the rules
def test_rules_match_their_plain_twins():
    from offbench.cost import fits, job_cost, job_walk, path_walk, tardiness, tier_loads

    assert tardiness(3.0, 2.0) == 1.0 and tardiness(1.0, 2.0) == 0.0
    assert tardiness(5.0, math.inf) == 0.0
    assert fits(1.0, 1.0) and not fits(1.0 + 2.0 ** -52, 1.0) and fits(0.0, 0.0)
    assert not fits(1e-300, 0.0) and fits(1e300, math.inf)
    rng = np.random.default_rng(0)
    for seed in range(20):
        inst = random_instance(seed, n_jobs=3, layers=(1, 5), capacities=True, deadlines=True,
                               zero_fraction=0.3)
        t = tables(inst)
        x = rng.integers(0, 3, inst.n_layers).astype(np.int8)
        ev = evaluate(inst, x)
        total = 0.0
        for i in range(inst.n_jobs):
            C, T = job_walk(t, i, x)
            assert T == pytest.approx(ev.jobs[i].time, rel=1e-12)
            p = x[inst.layer_offsets[i]:inst.layer_offsets[i + 1]].copy()
            assert path_walk(t, i, p) == (C, T)
            total += job_cost(t, i, C, T)
        assert total == pytest.approx(ev.cost, rel=1e-12)
        _, e, c = tier_loads(t.ops, x)
        # the exact loads are the plain model's: ops summed in layer order
        d = json.loads(inst.to_json())
        plain = ref.evaluate(d, x.tolist())
        assert (e, c) == (plain["load"]["edge"], plain["load"]["cloud"])
        assert (e, c) == (ev.load["edge"], ev.load["cloud"])


def test_move_state_capacity_tests_are_exact_after_drift():
    # Walk a state through many moves (its loads drift) and compare every capacity test with
    # the cost model's exact answer, on capacities where drift matters: a tier switched off
    # and a capacity equal to the exact load of the current decision.
    from offbench.cost import apply_move, block_fits, fits_state, move_fits, new_move_state

    rng = np.random.default_rng(1)
    for seed in range(6):
        base = random_instance(seed, n_jobs=3, layers=(3, 5), zero_fraction=0.3)
        inst = base.replace(cloud_capacity=0.0)
        t = tables(inst)
        x = np.zeros(inst.n_layers, dtype=np.int8)
        job_T, load = new_move_state(inst, x)
        for step in range(3000):
            l = int(rng.integers(inst.n_layers))
            k = int(rng.integers(3))
            ev = evaluate(inst, x)
            y = x.copy()
            y[l] = k
            after = evaluate(inst, y)
            assert bool(move_fits(t, x, load, l, k)) == (
                k == 0 or k == x[l] or (after.load["edge"] <= t.cap[1] if k == 1
                                        else after.load["cloud"] <= t.cap[2]))
            assert bool(fits_state(t, x, load)) == ev.feasible
            apply_move(t, x, l, k, job_T, load)
            if step % 500 == 0:
                # a capacity equal to the exact edge load: feasible, exactly
                on = inst.replace(edge_capacity=evaluate(inst, x).load["edge"])
                j2, l2 = new_move_state(on, x)
                l2[:] = load
                assert fits_state(tables(on), x, l2) == evaluate(on, x).feasible
        z = np.zeros_like(x)
        lo, hi = int(inst.layer_offsets[0]), int(inst.layer_offsets[1])
        job_T, load = new_move_state(inst, z)
        w = z.copy()
        w[lo:hi] = 2
        assert bool(block_fits(t, z, load, lo, hi, 2)) == evaluate(inst, w).feasible


def test_zero_ops_layers_may_run_on_a_switched_off_tier():
    inst = random_instance(3, n_jobs=2, layers=(3, 3), zero_fraction=0.0)
    ops = np.array(inst.ops)
    ops[[0, 4]] = 0.0
    inst = inst.replace(ops=ops, edge_capacity=0.0, cloud_capacity=0.0)
    x = np.zeros(inst.n_layers, dtype=np.int8)
    x[0], x[4] = 1, 2
    assert evaluate(inst, x).feasible
    x[1] = 1
    assert not evaluate(inst, x).feasible
    ms = MoveState(inst, np.zeros(inst.n_layers, dtype=np.int8))
    assert ms.move_fits(0, 2) and not ms.move_fits(1, 1)


def test_evaluate_many_threads_give_the_same_costs():
    from offbench._numba import max_threads

    inst = random_instance(2, n_jobs=4, layers=(3, 6), capacities=True, deadlines=True)
    X = np.random.default_rng(2).integers(0, 3, (5000, inst.n_layers)).astype(np.int8)
    c1, f1, l1 = evaluate_many(inst, X, with_feasibility=True, threads=1)
    c2, f2, l2 = evaluate_many(inst, X, with_feasibility=True, threads=min(2, max_threads()))
    assert np.array_equal(c1, c2) and np.array_equal(f1, f2) and np.array_equal(l1, l2)
    assert np.array_equal(c1, evaluate_many(inst, X))
    for bad in (0, -1, 1.5, True, max_threads() + 1):
        with pytest.raises(DecisionError, match="threads"):
            evaluate_many(inst, X, threads=bad)
