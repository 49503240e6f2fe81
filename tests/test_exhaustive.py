"""Exhaustive search: exact against plain enumeration, the Gray walk, refusals, timeouts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import offbench
from offbench.cost import evaluate, evaluate_many, tables
from offbench.instance import Instance
from offbench.generators import random_instance
from offbench.solver import SolverError
from offbench.discovery import resolve

import offbench_solvers.exhaustive as exhaustive_mod


def brute_force(inst):
    """Least cost over every feasible placement, priced one batch by the cost model."""
    X = np.array(list(itertools.product(range(3), repeat=inst.n_layers)), dtype=np.int8)
    costs, feasible, _ = evaluate_many(inst, X, with_feasibility=True, parallel=False)
    costs[~feasible] = np.inf
    return float(costs.min())


@pytest.fixture(scope="module")
def solver():
    return resolve("exhaustive")()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), capacities=st.booleans(), deadlines=st.booleans(),
       zero=st.sampled_from([0.0, 0.3]))
def test_agrees_with_plain_enumeration(solver, seed, capacities, deadlines, zero):
    inst = random_instance(seed, n_devices=2, n_jobs=2, layers=(1, 4), capacities=capacities,
                           deadlines=deadlines, zero_fraction=zero)
    res = solver.solve(inst)
    assert res.status == "optimal", res.error
    assert res.feasible
    best = brute_force(inst)
    assert res.cost == pytest.approx(best, rel=1e-9, abs=1e-300)
    assert res.bound == res.cost
    n = inst.n_layers
    assert res.info["placements"] == 3 ** n
    assert res.evaluations >= 3 ** n


@pytest.mark.parametrize("seed", range(24))
def test_switched_off_cloud_regression(solver, seed):
    # Issue 9: with the cloud's capacity 0 and an uncapacitated edge, the running loads of the
    # Gray walk came back to +-1e-8 instead of 0 and were compared against 0, so feasible
    # placements were skipped and "optimal" was up to 30 % too high (seeds 11, 20, 22 among
    # these). Feasibility now follows the exact loads.
    inst = random_instance(seed, n_devices=2, n_jobs=2, layers=(4, 4), deadlines=seed % 2 == 0,
                           cloud_capacity=0.0)
    res = solver.solve(inst)
    assert res.status == "optimal"
    assert res.feasible
    assert res.cost == pytest.approx(brute_force(inst), rel=1e-12, abs=1e-300)
    assert evaluate(inst, res.decision).load["cloud"] == 0.0


def test_gray_walk_visits_every_placement_once_one_step_at_a_time():
    inst = random_instance(3, n_jobs=2, layers=(2, 3))
    t = tables(inst)
    n = inst.n_layers
    x = np.zeros(n, dtype=np.int8)
    job_T = np.empty(inst.n_jobs)
    load = np.zeros(4)
    cur = np.array([exhaustive_mod._resync(t, x, job_T, load)])
    best = cur.copy()
    best_x = x.copy()
    f = np.arange(n + 1, dtype=np.int64)
    o = np.ones(n, dtype=np.int8)
    seen = [tuple(x)]
    done = False
    while not done:
        prev = x.copy()
        steps, _, done = exhaustive_mod._gray_walk(t, x, job_T, load, f, o, cur, best, best_x, 1, 2)
        if steps:
            diff = np.flatnonzero(x != prev)
            assert diff.size == 1 and abs(int(x[diff[0]]) - int(prev[diff[0]])) == 1
            seen.append(tuple(x))
            # the running state follows the cost model (resync every 3^2 steps keeps it close)
            assert cur[0] == pytest.approx(evaluate(inst, x).cost, rel=1e-9)
            assert load[1] == pytest.approx(evaluate(inst, x).load["edge"], rel=1e-9, abs=1e-6)
    assert len(seen) == 3 ** n == len(set(seen))


def _blocks(inst, bound, chain):
    """Every block's outputs (best cost, decision, placements, exact evaluations) from
    ``_walk_worker``, walked by the all-chain walk (``chain``) or step by step with
    ``offbench.cost.apply_move`` (``_gray_walk``)."""
    t = tables(inst)
    n = inst.n_layers
    low = exhaustive_mod.block_split(n)
    m = 3 ** (n - low)
    walk = exhaustive_mod.walk_tables(t, low)
    assert walk[0]                          # an all-chain instance
    out = (np.empty(m), np.zeros((m, n), dtype=np.int8), np.empty(m, dtype=np.int64),
           np.empty(m, dtype=np.int64))
    exhaustive_mod._walk_worker(t, low, 0, m, bound, exhaustive_mod.RESYNC_DIGIT if n > 9 else 2,
                                *out, np.zeros(1, dtype=np.int64), (chain,) + walk[1:])
    return out


def _walk_cases():
    """Chains of 1 to 4 layers, 2 to 11 layers in all; capacities off, on, 0 (either tier),
    equal to a subset's ops, or unable to bind; deadlines; zero-ops layers."""
    out = []
    for seed in range(10):
        inst = random_instance(seed, n_devices=2, n_jobs=3, layers=(1, 4),
                               capacities=seed % 3 != 0, deadlines=seed % 2 == 0,
                               zero_fraction=0.3 if seed % 4 else 0.0)
        if seed == 4:
            inst = inst.replace(cloud_capacity=0.0)
        if seed == 5:
            inst = inst.replace(edge_capacity=0.0, cloud_capacity=float(inst.ops[:2].sum()))
        if seed == 6:
            inst = inst.replace(edge_capacity=float(inst.ops.sum()) * 2)
        out.append(inst)
    out.append(random_instance(11, n_devices=2, n_jobs=3, layers=(3, 4), capacities=True,
                               deadlines=True, zero_fraction=0.2))
    return out


@pytest.mark.parametrize("case", range(11))
def test_chain_walk_is_the_move_kernels_walk_bitwise(case):
    # The all-chain walk (move table, digit 0 unrolled) against the walk that steps with
    # offbench.cost.apply_move: every block's best cost and placement, placements visited and
    # exact evaluations, bit for bit, without a bound and with the all-device cost as one.
    inst = _walk_cases()[case]
    x0 = np.zeros(inst.n_layers, dtype=np.int8)
    for bound in (np.inf, evaluate(inst, x0).cost):
        for a, b in zip(_blocks(inst, bound, True), _blocks(inst, bound, False)):
            assert np.array_equal(a, b)


def test_ties_keep_the_first_placement_in_gray_order(solver):
    # Nothing costs anything: every placement ties at 0, so the first one visited (all-device)
    # is kept.
    inst = random_instance(5, n_jobs=2, layers=(2, 3))
    inst = inst.replace(ops=np.zeros_like(inst.ops), bits=np.zeros_like(inst.bits),
                        dev_latency=np.zeros_like(inst.dev_latency), backhaul_latency=0.0)
    res = solver.solve(inst)
    assert res.status == "optimal" and res.cost == 0.0
    assert not res.decision.any()


def test_zero_capacity_tier_is_never_used_for_real_work(solver):
    inst = random_instance(11, n_jobs=2, layers=(2, 3), zero_fraction=0.0)
    inst = inst.replace(edge_capacity=0.0)
    res = solver.solve(inst)
    assert res.status == "optimal" and res.feasible
    assert not np.any((res.decision == 1) & (inst.ops > 0))
    assert res.cost == pytest.approx(brute_force(inst), rel=1e-9)


def test_refuses_too_many_layers_with_a_clear_message():
    inst = random_instance(1, n_jobs=3, layers=(4, 4))
    res = resolve("exhaustive")(max_layers=10).solve(inst)
    assert res.status == "error" and res.decision is None
    assert "3^12" in res.error and "max_layers=10" in res.error


def test_refuses_a_very_long_chain_without_overflow():
    # 3.0 ** 647 overflows a float: the refusal must still be the message, not an OverflowError.
    inst = random_instance(0, n_jobs=1, layers=(700, 700))
    res = resolve("exhaustive")().solve(inst)
    assert res.status == "error" and res.decision is None
    assert "3^700 (about 10^334)" in res.error and "Use dp or milp" in res.error


def test_refusal_on_a_dag_names_solvers_that_take_dags():
    # dp refuses DAG jobs: the hint sent users from one refusal to another.
    from offbench.dag import random_dag_instance
    inst = random_dag_instance(3, n_jobs=2, nodes=(4, 4), edge_prob=0.7)
    assert inst.is_dag
    res = resolve("exhaustive")(max_layers=4).solve(inst)
    assert res.status == "error" and "3^8" in res.error
    assert "mincut" in res.error and "milp" in res.error and "dp" not in res.error


def test_rejects_bad_parameters():
    with pytest.raises(SolverError, match="max_layers"):
        resolve("exhaustive")(max_layers=0)
    with pytest.raises(SolverError, match="max_layers"):
        resolve("exhaustive")(max_layers="big")


def test_time_limit_gives_timeout_with_the_best_so_far(solver, monkeypatch):
    monkeypatch.setattr(exhaustive_mod, "CHUNK_SECONDS", 1e-4)
    inst = random_instance(2, n_jobs=4, layers=(4, 4), capacities=True, deadlines=True)
    res = solver.solve(inst, time_limit=0.02)
    assert res.status == "timeout"
    assert res.feasible and res.decision is not None
    assert res.info["placements"] < 3 ** inst.n_layers
    assert res.bound is None


def test_deterministic(solver):
    inst = random_instance(8, n_jobs=3, layers=(2, 3), capacities=True, deadlines=True)
    a, b = solver.solve(inst, seed=0), solver.solve(inst, seed=5)
    assert np.array_equal(a.decision, b.decision) and a.cost == b.cost


def test_command_line(tmp_path, capsys):
    from offbench.cli import main
    from offbench.instance import save_instance

    inst = random_instance(4, n_jobs=2, layers=(2, 3), capacities=True)
    p = tmp_path / "x.json"
    save_instance(inst, p)
    assert main(["solve", str(p), "--solver", "exhaustive"]) == 0
    out = capsys.readouterr().out
    import json

    d = json.loads(out)
    assert d["status"] == "optimal"
    assert d["cost"] == pytest.approx(brute_force(inst), rel=1e-9)
    assert main(["solve", str(p), "--solver", "exhaustive", "--param", "max_layers=1"]) == 3  # refused
    d = json.loads(capsys.readouterr().out)
    assert d["status"] == "error" and "max_layers=1" in d["error"]


@pytest.mark.slow
def test_agrees_with_plain_enumeration_thoroughly(solver):
    for seed in range(150):
        rng = np.random.default_rng(seed)
        inst = random_instance(seed, n_devices=3, n_jobs=int(rng.integers(1, 4)), layers=(1, 4),
                               capacities=seed % 2 == 0, deadlines=seed % 3 == 0,
                               zero_fraction=float(rng.choice([0.0, 0.3])))
        if inst.n_layers > 10:
            continue
        res = solver.solve(inst)
        assert res.status == "optimal"
        assert res.cost == pytest.approx(brute_force(inst), rel=1e-9, abs=1e-300), seed


def test_block_split_and_thread_errors():
    assert exhaustive_mod.block_split(5) == 5
    assert exhaustive_mod.block_split(14) == 9
    assert exhaustive_mod.block_split(18) == 10
    import offbench
    from offbench._numba import max_threads

    inst = random_instance(1, n_jobs=2, layers=(2, 2))
    with pytest.raises(SolverError, match="threads must be an int >= 1"):
        offbench.solve(inst, "exhaustive", threads=0)
    with pytest.raises(SolverError, match="NUMBA_NUM_THREADS"):
        offbench.solve(inst, "exhaustive", threads=max_threads() + 1)
    assert offbench.solve(inst, "exhaustive", threads=1).status == "optimal"


def test_a_solve_without_a_limit_is_one_kernel_call(solver, monkeypatch):
    # The first batch is sized from RATE_GUESS, not by walking a block alone first: a solve of
    # less than CHUNK_SECONDS of work is one kernel call, a parallel one only above
    # PARALLEL_MIN_SECONDS of work on one thread (3^12: 27 blocks; 3^11 stays serial).
    from offbench._numba import max_threads

    big = random_instance(6, n_devices=2, n_jobs=3, layers=(4, 4), capacities=True)
    small = random_instance(5, n_devices=2, n_jobs=3, layers=(3, 4), capacities=True)
    assert (big.n_layers, small.n_layers) == (12, 11)
    threads = min(2, max_threads())
    want = {inst.n_layers: solver.solve(inst, threads=threads) for inst in (big, small)}
    calls = []
    for name in ("_walk_worker", "_walk_blocks"):
        kernel = getattr(exhaustive_mod, name)
        monkeypatch.setattr(exhaustive_mod, name,
                            lambda *a, k=kernel, name=name: calls.append(name) or k(*a))
    for inst, parallel in ((big, threads > 1), (small, False)):
        for th in {1, threads}:
            calls.clear()
            res = solver.solve(inst, threads=th)
            assert res.status == "optimal" and res.info["placements"] == 3 ** inst.n_layers
            assert res.cost == want[inst.n_layers].cost
            assert np.array_equal(res.decision, want[inst.n_layers].decision)
            assert calls == ["_walk_blocks" if parallel and th > 1 else "_walk_worker"]


# ------------------------------------------------------------------ drift at extreme magnitudes
def _one_layer(edge_speed: float, dag: bool) -> Instance:
    """Device 2, edge ~1.3e16, cloud 1 (the optimum): the walk reaches the cloud right after
    the edge, with a running cost of 1 +- ulp(1.3e16) = 1 +- 2 (a bug hunt's instance)."""
    job = ({"device": 0, "ops": [2.0], "edges": [], "in_bits": 0.0, "out_bits": [0.0]} if dag
           else {"device": 0, "ops": [2.0], "bits": [0.0, 0.0]})
    return Instance.from_dict({
        "format": "offbench-instance", "version": 2 if dag else 1, "name": "drift",
        "weights": {"time": 1.0, "energy": 0.0},
        "edge": {"speed": edge_speed, "energy_per_op": 0.0},
        "cloud": {"speed": 2.0, "energy_per_op": 0.0},
        "backhaul": {"rate": 1.0, "latency": 0.0, "energy_per_bit": 0.0},
        "devices": [{"speed": 1.0, "power_compute": 0.0, "power_tx": 0.0, "power_rx": 0.0,
                     "rate_up": 1.0, "rate_down": 1.0, "latency": 0.0}],
        "jobs": [job]})


@pytest.mark.parametrize("dag", [False, True])
@pytest.mark.parametrize("copies", [1, 9])
def test_a_cheap_placement_right_after_a_huge_one_is_priced(dag, copies):
    """The running cost is only a filter, and its drift is bounded (drift_unit): exhaustive
    answered ``optimal`` at cost 2 per job here (twice the optimum). With 9 copies of the job
    the instance has 9 layers, which the all-chain walk takes (CHAIN_MIN_LAYERS)."""
    one = _one_layer(1.5365469408940532e-16, dag)
    inst = one if copies == 1 else Instance.from_dict(
        {**one.to_dict(), "jobs": one.to_dict()["jobs"] * copies})
    assert [evaluate(one, [k]).cost for k in range(3)] == [2.0, pytest.approx(1.3e16, rel=0.01), 1.0]
    res = offbench.solve(inst, "exhaustive")
    assert res.status == "optimal" and res.cost == copies * 1.0
    assert list(res.decision) == [2] * copies


def test_drift_unit_bounds_every_placement_and_is_small_on_ordinary_instances():
    from offbench_solvers.exhaustive import drift_unit

    for seed in range(4):
        inst = random_instance(seed, n_devices=2, n_jobs=3, layers=(1, 4), capacities=True,
                               deadlines=True)
        t = tables(inst)
        u = drift_unit(t) / (exhaustive_mod.DRIFT_ROUNDINGS * 2.0 ** -53)
        costs = [evaluate(inst, list(x)).cost
                 for x in itertools.product(range(3), repeat=inst.n_layers)] \
            if inst.n_layers <= 8 else [evaluate(inst, [2] * inst.n_layers).cost]
        assert max(costs) <= u          # U bounds every placement's cost
        # the filter's margin (steps between two exact points) stays below the 1e-6 at which
        # references are compared (here up to 2.6e-7 of the optimum: the bound on a placement's
        # cost is 3e4 optima, by the tardiness of the slowest placement), so it adds exact
        # evaluations for near-ties of the best only
        margin = drift_unit(t) * 3 ** exhaustive_mod.RESYNC_DIGIT
        assert margin < 1e-6 * min(costs)


#: A DAG instance of a bug hunt (3 jobs, 7 nodes, a deadline of 1e30): the reference chain
#: certified 37.0000104 (provenance exhaustive) against an optimum of 37.000000001.
_H1186 = {"format": "offbench-instance", "version": 2, "name": "h1186",
          "weights": {"time": 0.0, "energy": 1e-15, "tardiness": 37.0},
          "edge": {"speed": 1e-06, "energy_per_op": 0.0},
          "cloud": {"speed": 1e-06, "energy_per_op": 3.7e-12},
          "backhaul": {"rate": 1e-15, "latency": 0.02, "energy_per_bit": 1e-09},
          "devices": [{"speed": 1.0, "power_compute": 11.1, "power_tx": 1e6, "power_rx": 1e15,
                       "rate_up": 1e6, "rate_down": 1e30, "latency": 1e-30}],
          "jobs": [{"device": 0, "ops": [1e-30, 0.0, 0.0], "edges": [[2, 1, 1.0], [3, 2, 0.0], [3, 1]],
                    "in_bits": 1e-15, "out_bits": [1e15, 1e-06, 1.0], "deadline": 1e30},
                   {"device": 0, "ops": [1.0], "edges": [], "in_bits": 1e-15, "out_bits": [1e6],
                    "deadline": 0.0, "weight": 1.0},
                   {"device": 0, "ops": [0.0, 2e8, 7.4e8], "edges": [], "in_bits": 1e6,
                    "out_bits": [1.0, 1e6, 1e6]}]}


def test_the_reference_of_a_dag_instance_with_costs_of_1e30_is_its_optimum():
    from offbench.reference import compute_reference

    inst = Instance.from_dict(_H1186)
    costs = evaluate_many(inst, np.array(list(itertools.product(range(3), repeat=7)), dtype=np.int8))
    opt = float(np.min(costs))
    assert opt == pytest.approx(37.000000001, rel=1e-12)
    res = offbench.solve(inst, "exhaustive")
    assert res.status == "optimal" and res.cost == pytest.approx(opt, rel=1e-14)
    ref = compute_reference(inst, time_limit=30)
    assert ref.proven and ref.cost == pytest.approx(opt, rel=1e-14)
