"""Local search on DAG jobs (SPEC.md section 7, issue 15 item 3): feasible, never below the
exhaustive optimum, deterministic per seed, a local optimum by the cost model's own evaluation
(no move kernel), its single-tier start as documented, its trajectory priced by the referee's
rules, and check_solver's DAG battery."""

from __future__ import annotations

import numpy as np
import pytest

from offbench.cost import evaluate, evaluate_many, tables
from offbench.dag import random_dag_instance
from offbench.discovery import resolve
from offbench.testing import check_solver, dag_battery

import offbench_solvers.local_search as ls_mod
from offbench_solvers._repair import repair

from .test_anytime import check_trajectory


@pytest.fixture(scope="module")
def exhaustive():
    return resolve("exhaustive")()


def small_dag(seed):
    return random_dag_instance(seed, n_devices=2, n_jobs=2, nodes=(2, 5),
                               capacities=seed % 2 == 0, deadlines=seed % 3 == 0,
                               zero_fraction=0.2)


def test_handles_dag_and_passes_check_solver_on_its_dag_battery():
    # (test_solver_interface runs the whole checker, chain battery included)
    assert resolve("local-search").handles_dag is True
    check_solver("local-search", instances=dag_battery(), time_limit=60)


@pytest.mark.parametrize("block", range(4))
def test_feasible_never_below_the_optimum_and_deterministic(exhaustive, block):
    n_dag = 0
    for seed in range(10 * block, 10 * block + 10):
        inst = small_dag(seed)
        n_dag += inst.is_dag
        opt = exhaustive.solve(inst)
        assert opt.status == "optimal"
        a = resolve("local-search")().solve(inst, seed=seed)
        b = resolve("local-search")().solve(inst, seed=seed)
        assert a.status == "feasible" and a.feasible, a.error
        assert a.cost >= opt.cost * (1 - 1e-9) - 1e-300
        assert np.array_equal(a.decision, b.decision) and a.cost == b.cost
        assert a.cost == evaluate(inst, a.decision).cost
    assert n_dag >= 8


def assert_local_optimum_by_evaluate(inst, x):
    """No single-node move to a tier that fits lowers the cost by more than the descent's
    tolerance: every neighbour priced from scratch by evaluate_many."""
    x = np.asarray(x, dtype=np.int8)
    rows = []
    for l in range(inst.n_layers):
        for k in range(3):
            if k != x[l]:
                y = x.copy()
                y[l] = k
                rows.append(y)
    costs, feasible, _ = evaluate_many(inst, np.array(rows), with_feasibility=True)
    c = evaluate(inst, x).cost
    better = feasible & (costs < c - 1e-9 * abs(c))
    assert not better.any(), np.array(rows)[better][:3]


@pytest.mark.parametrize("seed", range(4))
def test_ends_at_a_local_optimum_on_larger_dags(seed):
    inst = random_dag_instance(seed, n_devices=3, n_jobs=4, nodes=(6, 14),
                               capacities=seed % 2 == 0, deadlines=seed < 2, edge_prob=0.35)
    assert inst.is_dag
    r = resolve("local-search")(restarts=3).solve(inst, seed=seed)
    assert r.status == "feasible" and r.feasible and r.info["descents"] == 3
    assert_local_optimum_by_evaluate(inst, r.decision)
    assert r.cost <= resolve("greedy")().solve(inst).cost * (1 + 1e-12)
    check_trajectory(inst, r)


def test_the_single_tier_start_puts_each_job_where_it_costs_least():
    for seed in range(6):
        inst = random_dag_instance(seed, n_devices=2, n_jobs=3, nodes=(3, 6), deadlines=True)
        x = np.full(inst.n_layers, 7, dtype=np.int8)
        assert ls_mod.single_tier_start(tables(inst), x) == 3 * inst.n_jobs
        per_tier = [[j.cost for j in evaluate(inst, np.full(inst.n_layers, k, np.int8)).jobs]
                    for k in range(3)]
        want = np.argmin(np.array(per_tier), axis=0)             # first minimum: lower tier
        assert np.array_equal(x, np.repeat(want, np.diff(inst.layer_offsets)).astype(np.int8))


def test_one_restart_on_a_dag_instance_descends_from_the_repaired_single_tier_start():
    # capacities bind: the start is repaired, and the descent never costs more than that
    n_bound = 0
    for seed in range(6):
        inst = random_dag_instance(seed, n_devices=3, n_jobs=4, nodes=(5, 10), capacities=True)
        x = np.zeros(inst.n_layers, dtype=np.int8)
        ls_mod.single_tier_start(tables(inst), x)
        n_bound += not evaluate(inst, x).feasible
        y, _, _ = repair(inst, x)
        r = resolve("local-search")(restarts=1).solve(inst, seed=seed)
        assert r.feasible and r.info["descents"] == 1
        assert r.cost <= evaluate(inst, y).cost * (1 + 1e-9)
        assert r.info["trajectory"]["cost"][0] <= evaluate(inst, y).cost * (1 + 1e-9)
    assert n_bound >= 1


def test_on_traced_dnn_dags_it_reaches_the_minimum_cut():
    # zoo-v2 (ResNet-18, MobileNetV2, GoogLeNet, ViT-Ti/16 as DAGs of 150-400 nodes): without
    # the single-tier start (greedy, all-device and random starts only) local search ended 1.0-61x
    # above the optimum on the first 8 instances (median 2.3x); with it, at the optimum on all 8.
    # mincut proves the optimum (no capacities).
    from offbench.families import get_family

    mincut = resolve("mincut")()
    for k, inst in enumerate(get_family("zoo-v2").instances(0, 4)):
        assert inst.is_dag
        opt = mincut.solve(inst)
        assert opt.status == "optimal"
        r = resolve("local-search")().solve(inst, seed=k)
        assert r.feasible and r.cost <= opt.cost * (1 + 1e-6), (k, r.cost / opt.cost)


@pytest.mark.slow
def test_never_below_the_optimum_thoroughly(exhaustive):
    for seed in range(1000, 1400):
        inst = random_dag_instance(seed, n_devices=3, n_jobs=1 + seed % 3, nodes=(1, 4),
                                   capacities=seed % 2 == 0, deadlines=seed % 3 == 0,
                                   zero_fraction=0.3, edge_prob=0.3 + 0.1 * (seed % 5))
        if inst.n_layers > 11:
            continue
        opt = exhaustive.solve(inst)
        r = resolve("local-search")(restarts=4).solve(inst, seed=seed)
        assert r.status == "feasible" and r.feasible
        assert r.cost >= opt.cost * (1 - 1e-9) - 1e-300, seed
