"""Dynamic programming: exact where it claims to be, refusals where it cannot be."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offbench.cost import evaluate
from offbench.generators import random_instance
from offbench.instance import Instance
from offbench.discovery import resolve

import offbench_solvers.dp as dp_mod


@pytest.fixture(scope="module")
def dp():
    return resolve("dp")()


@pytest.fixture(scope="module")
def exhaustive():
    return resolve("exhaustive")()


def single_job(inst: Instance, i: int) -> Instance:
    """Job ``i`` of ``inst`` as an instance of its own (same servers and devices)."""
    lo, hi = int(inst.layer_offsets[i]), int(inst.layer_offsets[i + 1])
    return inst.replace(
        job_device=inst.job_device[i:i + 1], layer_offsets=np.array([0, hi - lo]),
        ops=inst.ops[lo:hi], bits=inst.job_bits(i), deadline=inst.deadline[i:i + 1],
        job_weight=inst.job_weight[i:i + 1])


def tight_deadlines(inst: Instance, rng: np.random.Generator) -> Instance:
    """Deadlines between 20% and 100% of each job's all-device time, a heavy energy weight and
    a tardiness weight over three orders of magnitude: time and linear cost then conflict and
    the Pareto labels are needed."""
    ev = evaluate(inst, np.zeros(inst.n_layers, dtype=np.int8))
    t_dev = np.array([j.time for j in ev.jobs])
    return inst.replace(deadline=t_dev * rng.uniform(0.2, 1.0, inst.n_jobs),
                        w_energy=float(rng.uniform(0.5, 5.0)),
                        w_tardiness=float(rng.choice([0.1, 1.0, 10.0, 100.0])))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), deadlines=st.booleans(), zero=st.sampled_from([0.0, 0.3]))
def test_agrees_with_exhaustive_without_capacities(dp, exhaustive, seed, deadlines, zero):
    inst = random_instance(seed, n_devices=2, n_jobs=3, layers=(1, 4), deadlines=deadlines,
                           zero_fraction=zero)
    a, b = exhaustive.solve(inst), dp.solve(inst)
    assert b.status == "optimal", b.error
    assert b.cost == pytest.approx(a.cost, rel=1e-6, abs=1e-300)
    assert b.bound == b.cost


def test_exact_with_tight_deadlines(dp, exhaustive):
    # The regime where the label DP does the work (not just the Viterbi shortcuts).
    labels = 0
    for seed in range(25):
        rng = np.random.default_rng(seed)
        inst = tight_deadlines(random_instance(100 + seed, n_jobs=1, layers=(6, 9),
                                               deadlines=True, zero_fraction=0.15), rng)
        a, b = exhaustive.solve(inst), dp.solve(inst)
        assert b.status == "optimal", b.error
        assert b.cost == pytest.approx(a.cost, rel=1e-9), seed
        labels += b.info["labels"]
    assert labels > 0, "no instance exercised the Pareto labels"


def test_many_jobs_each_optimal(dp, exhaustive):
    rng = np.random.default_rng(7)
    inst = tight_deadlines(random_instance(7, n_devices=4, n_jobs=40, layers=(1, 8),
                                           deadlines=True), rng)
    res = dp.solve(inst)
    assert res.status == "optimal"
    ev = evaluate(inst, res.decision)
    for i in range(0, inst.n_jobs, 3):
        sub = single_job(inst, i)
        opt = exhaustive.solve(sub)
        assert ev.jobs[i].cost == pytest.approx(opt.cost, rel=1e-9), i


def test_capacities_that_cannot_bind_are_not_coupling(dp, exhaustive):
    inst = random_instance(12, n_jobs=3, layers=(2, 4), deadlines=True)
    total = float(inst.ops.sum())
    capped = inst.replace(edge_capacity=total, cloud_capacity=2 * total)
    a, b = dp.solve(inst), dp.solve(capped)
    assert b.status == "optimal" and b.cost == a.cost
    assert b.cost == pytest.approx(exhaustive.solve(capped).cost, rel=1e-9)


def test_binding_capacities_are_refused_unless_the_relaxation_fits(dp, exhaustive):
    refused = solved = 0
    for seed in range(20):
        inst = random_instance(seed, n_jobs=3, layers=(1, 4), capacities=True,
                               deadlines=seed % 2 == 0)
        b = dp.solve(inst)
        if b.status == "error":
            refused += 1
            assert b.decision is None
            assert "couple the jobs" in b.error and "milp" in b.error
        else:
            solved += 1
            assert b.status == "optimal"
            assert b.cost == pytest.approx(exhaustive.solve(inst).cost, rel=1e-9)
    assert refused > 0


def test_relaxation_optimum_that_fits_is_optimal(dp, exhaustive):
    # Capacity exactly the relaxation's load: binding in general, but the optimum fits.
    inst = random_instance(21, n_jobs=3, layers=(2, 4), zero_fraction=0.0)
    free = dp.solve(inst)
    ev = evaluate(inst, free.decision)
    assert ev.load["edge"] > 0 or ev.load["cloud"] > 0
    total = float(inst.ops.sum())
    capped = inst.replace(edge_capacity=ev.load["edge"] if ev.load["edge"] < total else np.inf,
                          cloud_capacity=ev.load["cloud"] if ev.load["cloud"] < total else np.inf)
    assert capped.has_capacities, "this seed's relaxation must leave a binding capacity"
    res = dp.solve(capped)
    assert res.status == "optimal" and res.cost == free.cost
    assert res.cost == pytest.approx(exhaustive.solve(capped).cost, rel=1e-9)


def test_solve_uncoupled_is_a_lower_bound_on_coupled_instances(exhaustive):
    for seed in range(6):
        inst = random_instance(seed, n_jobs=3, layers=(1, 4), capacities=True, deadlines=True)
        relax = dp_mod.solve_uncoupled(inst)
        assert relax.complete
        assert relax.cost <= exhaustive.solve(inst).cost * (1 + 1e-12)


def test_label_buffers_grow(monkeypatch, dp, exhaustive):
    # Start the buffers tiny: a job that needs more labels is retried with larger ones.
    rng = np.random.default_rng(8)
    inst = tight_deadlines(random_instance(8, n_jobs=2, layers=(8, 8), deadlines=True), rng)
    monkeypatch.setattr(dp_mod, "LABELS_START", 1)
    monkeypatch.setattr(dp_mod, "CANDIDATES_START", 1)
    res = dp.solve(inst)
    assert res.status == "optimal"
    assert res.info["labels"] > 1      # more than the buffers first held
    assert res.cost == pytest.approx(exhaustive.solve(inst).cost, rel=1e-9)


def test_time_limit_stops_between_batches(monkeypatch, dp):
    monkeypatch.setattr(dp_mod, "JOBS_PER_CALL", 2)
    inst = random_instance(4, n_jobs=50, layers=(2, 5))
    relax = dp_mod.solve_uncoupled(inst, deadline=0.0)     # a deadline long past
    assert not relax.complete and relax.jobs_solved == 2
    assert np.isnan(relax.cost)
    # the unsolved jobs still get a valid path
    assert evaluate(inst, relax.decision).feasible


def test_large_instance_is_consistent(dp):
    inst = random_instance(9, n_devices=10, n_jobs=3000, layers=(5, 30), deadlines=True)
    res = dp.solve(inst)
    assert res.status == "optimal"
    assert res.info["objective"] == pytest.approx(res.cost, rel=1e-9)
    # no single-layer move improves an exact per-job optimum
    from offbench.cost import MoveState

    ms = MoveState(inst, res.decision)
    rng = np.random.default_rng(0)
    for l in rng.choice(inst.n_layers, 300, replace=False):
        for k in range(3):
            assert ms.delta(int(l), k)[0] >= -1e-9 * max(1.0, res.cost)


def test_deterministic(dp):
    inst = random_instance(5, n_jobs=30, layers=(1, 10), deadlines=True)
    a, b = dp.solve(inst, seed=1), dp.solve(inst, seed=2)
    assert np.array_equal(a.decision, b.decision)


@pytest.mark.slow
def test_agrees_with_exhaustive_thoroughly(dp, exhaustive):
    for seed in range(400):
        rng = np.random.default_rng(seed)
        inst = random_instance(seed, n_devices=3, n_jobs=int(rng.integers(1, 4)), layers=(1, 5),
                               deadlines=seed % 2 == 0, zero_fraction=float(rng.choice([0.0, 0.3])))
        if seed % 4 == 0:
            inst = tight_deadlines(inst, rng)
        a, b = exhaustive.solve(inst), dp.solve(inst)
        assert b.status == "optimal", (seed, b.error)
        assert b.cost == pytest.approx(a.cost, rel=1e-6, abs=1e-300), seed
