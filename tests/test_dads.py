"""The field's baselines on DAG jobs: DADS (solvers/dads.py), Neurosurgeon, greedy and the fixed
placements (solvers/heuristics.py), checked against brute force priced by the cost model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from offbench.cost import evaluate, evaluate_many
from offbench.discovery import resolve
from offbench.generators import random_instance

from .test_mincut import all_costs, random_dag_instance

BASELINES = ("all-device", "all-edge", "all-cloud", "random", "greedy", "neurosurgeon", "dads")


def per_job_best(inst, tiers_of_job):
    """Sum over jobs of the least job cost over the placements each job may take (the other
    jobs on their devices: jobs do not interact without capacities)."""
    off = inst.layer_offsets
    total = 0.0
    for i in range(inst.n_jobs):
        L = off[i + 1] - off[i]
        rows = []
        for tiers in tiers_of_job(i, L):
            x = np.zeros(inst.n_layers, dtype=np.int8)
            x[off[i]:off[i + 1]] = tiers
            rows.append(x)
        X = np.array(rows)
        costs = evaluate_many(inst, X)
        base = evaluate(inst, np.zeros(inst.n_layers, dtype=np.int8))
        # a job's cost = the decision's cost less the other jobs' all-device costs
        others = base.cost - base.jobs[i].cost
        total += float(costs.min() - others)
    return total


def test_dads_is_the_best_two_tier_cut_of_each_job():
    dads = resolve("dads")()

    def two_tier(i, L):
        for r in (1, 2):
            for bits in itertools.product((0, r), repeat=L):
                yield bits

    for seed in range(40):
        inst = random_dag_instance(seed, n_devices=2, n_jobs=2, layers=(1, 5), zero_fraction=0.2)
        res = dads.solve(inst)
        assert res.status == "feasible", res.error
        assert set(np.unique(res.decision)) <= {0, 1, 2}
        off = inst.layer_offsets
        for i in range(inst.n_jobs):        # each job on one remote tier at most
            assert len(set(res.decision[off[i]:off[i + 1]].tolist()) - {0}) <= 1
        assert res.cost == pytest.approx(per_job_best(inst, two_tier), rel=1e-9)
        assert res.info["jobs_device_edge"] + res.info["jobs_device_cloud"] == inst.n_jobs


def test_three_tiers_never_lose_to_two_and_sometimes_win():
    dads, mincut = resolve("dads")(), resolve("mincut")()
    wins = 0
    for seed in range(40):
        inst = random_dag_instance(seed, n_devices=3, n_jobs=3, layers=(2, 6))
        a, b = dads.solve(inst), mincut.solve(inst)
        assert b.status == "optimal"
        assert a.cost >= b.cost * (1 - 1e-9)
        wins += a.cost > b.cost * (1 + 1e-6)
    assert wins > 0


def test_neurosurgeon_is_the_best_single_cut_in_file_order_on_dags():
    ns = resolve("neurosurgeon")()

    def cuts(i, L):
        yield (0,) * L
        for r in (1, 2):
            for c in range(L):
                yield (0,) * c + (r,) * (L - c)

    for seed in range(40):
        inst = random_dag_instance(seed, n_devices=2, n_jobs=3, layers=(1, 6), zero_fraction=0.2)
        res = ns.solve(inst)
        assert res.status == "feasible", res.error
        assert res.cost == pytest.approx(per_job_best(inst, cuts), rel=1e-9)


def test_the_baselines_are_feasible_and_never_below_the_optimum_on_dags():
    seen_dag = 0
    for seed in range(30):
        inst = random_dag_instance(seed, n_devices=2, n_jobs=2, layers=(1, 4),
                                   capacities=seed % 2 == 0, deadlines=seed % 3 == 0,
                                   zero_fraction=0.2)
        seen_dag += inst.is_dag
        _, costs, feasible = all_costs(inst)
        best = costs[feasible].min()
        for name in BASELINES:
            res = resolve(name)().solve(inst, seed=seed)
            assert res.status == "feasible", (name, res.error)
            assert res.feasible, name
            assert res.cost >= best * (1 - 1e-9), f"{name} beat the proven optimum: a bug"
    assert seen_dag > 20


def test_dads_under_capacities_keeps_a_decision_that_fits():
    dads = resolve("dads")()
    fallbacks = set()
    for seed in range(30):
        inst = random_dag_instance(seed, n_devices=3, n_jobs=4, layers=(2, 6), capacities=True)
        res = dads.solve(inst)
        assert res.status == "feasible" and res.feasible, res.error
        fallbacks.add(res.info["capacity_fallback"])
    assert fallbacks - {"none"}, "capacities never bound: the test proves nothing"


@pytest.mark.parametrize("name", BASELINES)
def test_deterministic_on_dags(name):
    inst = random_dag_instance(3, n_devices=3, n_jobs=5, layers=(2, 7), capacities=True)
    s = resolve(name)()
    a, b = s.solve(inst, seed=4), s.solve(inst, seed=4)
    assert np.array_equal(a.decision, b.decision) and a.cost == b.cost


def test_dads_on_chains_matches_the_two_tier_brute_force():
    dads = resolve("dads")()
    inst = random_instance(5, n_devices=2, n_jobs=3, layers=(1, 5))

    def two_tier(i, L):
        for r in (1, 2):
            yield from itertools.product((0, r), repeat=L)

    assert dads.solve(inst).cost == pytest.approx(per_job_best(inst, two_tier), rel=1e-9)
