"""The three-tier minimum cut (offbench._maxflow, solvers/mincut.py).

Two independent referees: a brute force over the abstract energy (written here from the union-
of-paths rule of SPEC.md section 7, sharing nothing with the graph construction), and the cost
model itself (every decision of a small instance priced by offbench.cost.evaluate_many).
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from offbench._maxflow import (ALLOWED, DEVICE_CLOUD, DEVICE_EDGE, THREE_TIERS, TOLERANCE,
                               CutProblem, check_problem, solve_cuts)


# ------------------------------------------------------------------------------ the abstract energy
def random_problem(rng, n_jobs, max_nodes=6) -> CutProblem:
    """Random energies: unary costs of any sign (some zero), groups with random sources (a node
    or the device), 0-4 node destinations, the device as a destination or not, and hop costs
    >= 0 (some zero, the backhaul's two directions equal or not)."""
    node_off, unary, grp_off, src, dev, cost, dst_off, dst = [0], [], [0], [], [], [], [0], []
    for _ in range(n_jobs):
        L = int(rng.integers(1, max_nodes + 1))
        node_off.append(node_off[-1] + L)
        u = rng.exponential(1.0, (L, 3)) * rng.choice([0, 1, 1, 1], (L, 3))
        if rng.random() < 0.3:
            u -= rng.exponential(1.0, (L, 3))
        unary.append(u)
        n_groups = int(rng.integers(0, 2 * L + 2))
        for _ in range(n_groups):
            src.append(int(rng.integers(-1, L)))
            dev.append(bool(rng.random() < 0.3))
            c = rng.exponential(1.0, 4) * rng.choice([0, 1, 1, 1, 1], 4)
            if rng.random() < 0.5:
                c[3] = c[2]
            cost.append(c)
            k = int(rng.integers(0, min(L, 4) + 1))
            dst.extend(int(v) for v in rng.choice(L, k, replace=False))
            dst_off.append(dst_off[-1] + k)
        grp_off.append(grp_off[-1] + n_groups)
    return CutProblem(np.array(node_off, np.int64), np.vstack(unary), np.array(grp_off, np.int64),
                      np.array(src, np.int64), np.array(dev, bool),
                      np.array(cost, dtype=float).reshape(-1, 4), np.array(dst_off, np.int64),
                      np.array(dst, np.int64))


def brute_force(P: CutProblem, j: int, allowed) -> tuple[np.ndarray, np.ndarray]:
    """Every labelling of job j over ``allowed`` and its energy: compute, plus for each group
    each hop of the union of the paths from the source's tier to the destinations' tiers
    (the interval they span), crossed upwards above the source and downwards below it."""
    n0, n1 = P.node_off[j], P.node_off[j + 1]
    L = n1 - n0
    X = np.array(list(itertools.product(allowed, repeat=L)), dtype=np.int64)
    E = P.unary[n0:n1][np.arange(L), X].sum(axis=1)
    zero = np.zeros(len(X), dtype=np.int64)
    for g in range(P.grp_off[j], P.grp_off[j + 1]):
        a = zero if P.grp_src[g] < 0 else X[:, P.grp_src[g]]
        tiers = [X[:, b] for b in P.dst[P.dst_off[g]:P.dst_off[g + 1]]]
        if P.grp_dev[g]:
            tiers.append(zero)
        if not tiers:
            continue
        span = np.stack(tiers + [a])
        lo, hi = span.min(axis=0), span.max(axis=0)
        up, down, bup, bdown = P.grp_cost[g]
        E = E + np.where((lo <= 0) & (hi >= 1), np.where(a == 0, up, down), 0.0)
        E = E + np.where((lo <= 1) & (hi >= 2), np.where(a <= 1, bup, bdown), 0.0)
    return X, E


@pytest.mark.parametrize("mode", [THREE_TIERS, DEVICE_EDGE, DEVICE_CLOUD])
def test_cut_equals_brute_force_on_random_energies(mode):
    rng = np.random.default_rng(100 + mode)
    P = random_problem(rng, 700)
    check_problem(P)
    sol = solve_cuts(P, mode)
    assert np.all(np.isin(sol.x, ALLOWED[mode]))
    for j in range(P.n_jobs):
        X, E = brute_force(P, j, ALLOWED[mode])
        xj = sol.x[P.node_off[j]:P.node_off[j + 1]]
        found = E[np.flatnonzero((X == xj).all(axis=1))[0]]
        best = E.min()
        assert found <= best + 1e-9 * max(1.0, abs(best)), (j, found, best)
        assert sol.energy[j] == pytest.approx(found, rel=1e-12, abs=1e-12)
        assert 0 <= sol.eps[j] <= 1e-11 * max(1.0, np.abs(P.unary[P.node_off[j]:P.node_off[j + 1]]).sum()
                                                + P.grp_cost[P.grp_off[j]:P.grp_off[j + 1]].sum())


@pytest.mark.slow
def test_cut_equals_brute_force_on_many_random_energies():
    for seed in range(6):
        rng = np.random.default_rng(seed)
        P = random_problem(rng, 2000, max_nodes=7)
        for mode in ALLOWED:
            sol = solve_cuts(P, mode)
            for j in range(P.n_jobs):
                X, E = brute_force(P, j, ALLOWED[mode])
                xj = sol.x[P.node_off[j]:P.node_off[j + 1]]
                found = E[np.flatnonzero((X == xj).all(axis=1))[0]]
                assert found <= E.min() + 1e-9 * max(1.0, abs(E.min())), (seed, mode, j)


def test_ties_go_to_the_lower_tier():
    # Two nodes, nothing costs anything: every labelling is optimal; the cut keeps all on 0.
    P = CutProblem(np.array([0, 2]), np.zeros((2, 3)), np.array([0, 1]), np.array([0]),
                   np.array([True]), np.zeros((1, 4)), np.array([0, 1]), np.array([1]))
    assert solve_cuts(P).x.tolist() == [0, 0]
    # Equal compute on edge and cloud, cheaper than the device: the edge.
    P2 = P._replace(unary=np.array([[2.0, 1.0, 1.0], [2.0, 1.0, 1.0]]))
    assert solve_cuts(P2).x.tolist() == [1, 1]


def test_a_shared_output_pays_each_hop_once():
    # Node 0 on the device (forced by a huge compute elsewhere), consumers 1 and 2 forced onto
    # the edge and the cloud: the output crosses the up hop once and the backhaul once.
    big = 1e6
    unary = np.array([[0, big, big], [big, 0, big], [big, big, 0]], dtype=float)
    P = CutProblem(np.array([0, 3]), unary, np.array([0, 1]), np.array([0]), np.array([False]),
                   np.array([[3.0, 5.0, 7.0, 11.0]]), np.array([0, 2]), np.array([1, 2]))
    sol = solve_cuts(P)
    assert sol.x.tolist() == [0, 1, 2]
    assert sol.energy[0] == pytest.approx(3.0 + 7.0)
    # From the cloud to consumers on the edge and the device: backhaul down once, then down.
    unary2 = np.array([[big, big, 0], [big, 0, big], [0, big, big]], dtype=float)
    sol2 = solve_cuts(P._replace(unary=unary2))
    assert sol2.x.tolist() == [2, 1, 0]
    assert sol2.energy[0] == pytest.approx(5.0 + 11.0)


def test_malformed_problems_are_refused():
    P = random_problem(np.random.default_rng(1), 3)
    with pytest.raises(ValueError, match="grp_cost"):
        check_problem(P._replace(grp_cost=-P.grp_cost - 1))
    with pytest.raises(ValueError, match="dst"):
        check_problem(P._replace(dst=P.dst + 100))
    with pytest.raises(ValueError, match="mode"):
        solve_cuts(P, 7)


def test_tolerance_constant_is_the_spec_bound():
    assert TOLERANCE <= 1e-9


def test_a_value_the_constants_cancel_is_still_exact():
    # One node: device and cloud 1e30, edge 1. The cut's constant 1e30 + (1 - 1e30) is 0 in
    # floating point, and the capacities' rounding (2^-52 of 1e30) hid the edge: the energy
    # is summed from the labelling's own terms, and the job is cut again without the tiers
    # that cost more than the first cut's labelling, so the tolerance is that of the edge.
    P = CutProblem(np.array([0, 1]), np.array([[1e30, 1.0, 1e30]]), np.array([0, 0]),
                   np.zeros(0, np.int64), np.zeros(0, bool), np.zeros((0, 4)),
                   np.array([0]), np.zeros(0, np.int64))
    for mode in (THREE_TIERS, DEVICE_EDGE):
        sol = solve_cuts(P, mode)
        assert sol.x.tolist() == [1] and sol.energy[0] == 1.0 and 0 <= sol.eps[0] <= 1e-15


@pytest.mark.parametrize("mode", [THREE_TIERS, DEVICE_EDGE, DEVICE_CLOUD])
def test_extreme_magnitudes_keep_the_minimum_and_a_valid_tolerance(mode):
    """Terms >= 0 spread over 60 decades (as the cost model writes them at SPEC.md's extremes):
    the labelling is within its stated tolerance of the brute force's minimum, the tolerance
    meets TOLERANCE on nearly every job, and energy - eps never exceeds the minimum."""
    rng = np.random.default_rng(300 + mode)
    P = random_problem(rng, 300, max_nodes=5)
    P = P._replace(unary=np.abs(P.unary) * 10.0 ** rng.uniform(-30, 30, P.unary.shape),
                   grp_cost=P.grp_cost * 10.0 ** rng.uniform(-30, 30, P.grp_cost.shape))
    sol = solve_cuts(P, mode)
    tight = 0
    for j in range(P.n_jobs):
        X, E = brute_force(P, j, ALLOWED[mode])
        xj = sol.x[P.node_off[j]:P.node_off[j + 1]]
        found = E[np.flatnonzero((X == xj).all(axis=1))[0]]
        best = E.min()
        assert sol.energy[j] == pytest.approx(found, rel=1e-12, abs=0), (j, sol.energy[j], found)
        assert found - sol.eps[j] <= best * (1 + 1e-12), (j, found, sol.eps[j], best)
        if sol.eps[j] <= TOLERANCE * sol.energy[j]:
            tight += 1
            assert found <= best * (1 + 2e-9), (j, found, best)
    assert tight >= 0.95 * P.n_jobs


# ------------------------------------------------------------------------------ on instances
from offbench.cost import evaluate, evaluate_many  # noqa: E402
from offbench.discovery import resolve  # noqa: E402
from offbench.generators import random_instance  # noqa: E402
from offbench.instance import Instance  # noqa: E402

import offbench_solvers.mincut as mincut_mod  # noqa: E402


def random_dag_instance(seed, *, n_jobs=2, layers=(1, 4), p_edge=0.45, p_message=0.3,
                        chain_share=0.2, **kwargs) -> Instance:
    """A random instance of version 2: random_instance's devices, jobs and sizes, each job
    (but about ``chain_share`` of them) rewritten as a random DAG on its nodes in file order
    (edges u < v), some edges with their own message (some of 0 bits), some jobs with
    ``out_bits`` all 0; built through the version-2 dict form (``Instance.from_dict``)."""
    rng = np.random.default_rng(seed + 7919)
    d = random_instance(seed, n_jobs=n_jobs, layers=layers, **kwargs).to_dict()
    jobs = []
    for j in d["jobs"]:
        L = len(j["ops"])
        if rng.random() < chain_share:
            jobs.append(j)
            continue
        edges = []
        for u in range(1, L + 1):
            for v in range(u + 1, L + 1):
                if rng.random() < p_edge:
                    e = [u, v]
                    if rng.random() < p_message:
                        e.append(float(rng.choice([0.0, rng.exponential(1e6)])))
                    edges.append(e)
        out = [0.0] * L if rng.random() < 0.2 else list(j["bits"][1:])
        dag = {"device": j["device"], "ops": j["ops"], "edges": edges, "in_bits": j["bits"][0],
               "out_bits": out}
        dag.update({k: j[k] for k in ("deadline", "weight") if k in j})
        jobs.append(dag)
    d["jobs"] = jobs
    d["version"] = 2
    return Instance.from_dict(json.loads(json.dumps(d)))


def all_costs(inst):
    X = np.array(list(itertools.product(range(3), repeat=inst.n_layers)), dtype=np.int8)
    costs, feasible, _ = evaluate_many(inst, X, with_feasibility=True)
    return X, costs, feasible


@pytest.fixture(scope="module")
def mincut():
    return resolve("mincut")()


def _check_optimal(res, best):
    assert res.status == "optimal", res.error
    assert res.cost <= best * (1 + 1e-9) + 1e-300, (res.cost, best)
    assert res.cost >= best * (1 - 1e-9)
    assert res.info["tolerance"] <= TOLERANCE * max(res.cost, 1e-300) or res.cost == 0


def test_mincut_equals_the_cost_model_brute_force_on_small_dags(mincut):
    n_dag = 0
    for seed in range(120):
        inst = random_dag_instance(seed, n_devices=2, n_jobs=2, layers=(1, 4), zero_fraction=0.2)
        n_dag += inst.is_dag
        _, costs, _ = all_costs(inst)
        _check_optimal(mincut.solve(inst), costs.min())
    assert n_dag > 90


@pytest.mark.slow
def test_mincut_equals_the_cost_model_brute_force_on_thousands_of_dags(mincut):
    for seed in range(3000):
        inst = random_dag_instance(seed, n_devices=3, n_jobs=int(1 + seed % 3),
                                   layers=(1, 9 // (1 + seed % 3)), zero_fraction=0.2,
                                   p_edge=0.2 + 0.6 * (seed % 5) / 4)
        _, costs, _ = all_costs(inst)
        _check_optimal(mincut.solve(inst), costs.min())


def test_mincut_equals_dp_on_chains(mincut):
    dp = resolve("dp")()
    for seed in range(25):
        inst = random_instance(seed, n_devices=4, n_jobs=20, layers=(1, 30), zero_fraction=0.2)
        a, b = mincut.solve(inst), dp.solve(inst)
        assert a.status == b.status == "optimal", (a.error, b.error)
        assert a.cost == pytest.approx(b.cost, rel=1e-9)


def test_capacities_and_deadlines_that_do_not_bind_are_optimal(mincut):
    seen = 0
    for seed in range(60):
        inst = random_dag_instance(seed, n_devices=2, n_jobs=2, layers=(1, 4), capacities=True,
                                   deadlines=True)
        _, costs, feasible = all_costs(inst)
        best = costs[feasible].min()
        res = mincut.solve(inst)
        if res.status == "optimal":
            seen += 1
            assert res.feasible
            assert res.cost == pytest.approx(best, rel=1e-9)
        else:
            assert res.status == "error" and res.error.startswith("unsupported: "), res.error
            assert "use milp or exhaustive" in res.error
            assert ("capacity" in res.error) or ("late" in res.error)
            # the refusal was honest: the relaxation's optimum is below the real one
            bound = type(mincut).lower_bound(inst)
            assert bound <= best * (1 + 1e-9)
    assert seen > 5


def test_the_lower_bound_is_the_relaxation():
    inst = random_dag_instance(4, n_devices=2, n_jobs=3, layers=(1, 3), capacities=True)
    _, costs, _ = all_costs(inst)
    bound = mincut_mod.MinCut.lower_bound(inst)
    assert bound == pytest.approx(costs.min(), rel=1e-9)


def test_a_time_limit_leaves_the_remaining_jobs_on_their_devices(monkeypatch, mincut):
    inst = random_dag_instance(2, n_devices=3, n_jobs=40, layers=(3, 6))
    monkeypatch.setattr(mincut_mod, "BATCH_NODES", 1)
    res = mincut_mod.solve_relaxation(inst, deadline=0.0)   # already passed after job 0
    assert not res.complete and res.jobs_solved == 1
    assert not res.decision[inst.layer_offsets[1]:].any()
    full = mincut_mod.solve_relaxation(inst)
    assert full.complete and full.jobs_solved == 40
    assert evaluate(inst, full.decision).cost == pytest.approx(full.energy, rel=1e-9)


def test_mincut_info_and_determinism(mincut):
    inst = random_dag_instance(9, n_devices=3, n_jobs=6, layers=(2, 6))
    a, b = mincut.solve(inst, seed=1), mincut.solve(inst, seed=2)
    assert np.array_equal(a.decision, b.decision)
    assert a.info["arcs"] > 0 and a.info["graph_nodes"] >= 2 + 2 * inst.n_layers
    assert a.info["objective"] == pytest.approx(a.cost, rel=1e-9)


def test_mincut_proves_the_reference_of_a_dag_instance():
    from offbench.reference import compute_reference

    inst = random_dag_instance(11, n_devices=2, n_jobs=2, layers=(2, 4))
    assert inst.is_dag
    ref = compute_reference(inst, time_limit=60)
    assert ref.provenance == "mincut" and ref.proven
    _, costs, _ = all_costs(inst)
    assert ref.cost == pytest.approx(costs.min(), rel=1e-9)
    assert "dp:" in ref.note          # dp was refused first (it does not handle DAG jobs)


def test_mincut_agrees_with_exhaustive_on_larger_dags(mincut):
    """The referee (exhaustive search) on DAGs of 9-12 nodes, from offbench.dag's generator,
    with many shared outputs (every node's output read by several later nodes)."""
    from offbench.dag import random_dag_instance as h5_dag

    ex = resolve("exhaustive")()
    for seed in range(6):
        inst = h5_dag(seed, n_devices=2, n_jobs=1 + seed % 2, nodes=(5, 6 if seed % 2 else 12),
                      edge_prob=0.6, message_prob=0.3, zero_fraction=0.2)
        ref = ex.solve(inst)
        assert ref.status == "optimal"
        _check_optimal(mincut.solve(inst), ref.cost)


def _extreme_instances():
    """Valid instances of SPEC.md section 3's extremes, from a bug hunt: one node whose device
    and cloud cost 1e30 and edge 1 (as a DAG job and as a chain), and a 3-node DAG whose
    coefficients span 1e-30 .. 1e60 (the first cut put it all on the device, at 2e53, where
    the optimum is 5e50)."""
    one = {"format": "offbench-instance", "version": 2, "name": "one",
           "weights": {"time": 1.0, "energy": 0.0},
           "edge": {"speed": 1.0, "energy_per_op": 0.0},
           "cloud": {"speed": 1e-30, "energy_per_op": 0.0},
           "backhaul": {"rate": 1.0, "latency": 0.0, "energy_per_bit": 0.0},
           "devices": [{"speed": 1e-30, "power_compute": 0.0, "power_tx": 0.0, "power_rx": 0.0,
                        "rate_up": 1.0, "rate_down": 1.0, "latency": 0.0}],
           "jobs": [{"device": 0, "ops": [1.0], "edges": [], "in_bits": 0.0,
                     "out_bits": [0.0]}]}
    chain = json.loads(json.dumps(one))
    chain["version"] = 1
    chain["jobs"] = [{"device": 0, "ops": [1.0], "bits": [0.0, 0.0]}]
    three = {"format": "offbench-instance", "version": 2, "name": "three",
             "weights": {"time": 1.0, "energy": 0.5, "tardiness": 0.0},
             "edge": {"speed": 1e6, "energy_per_op": 1e30},
             "cloud": {"speed": 1e30, "energy_per_op": 1e6},
             "backhaul": {"rate": 1e6, "latency": 1.0, "energy_per_bit": 1e6},
             "devices": [{"speed": 1e-15, "power_compute": 0.0, "power_tx": 1e15,
                          "power_rx": 1e30, "rate_up": 1e-30, "rate_down": 1e-6,
                          "latency": 0.005}],
             "jobs": [{"device": 0, "ops": [0.0, 1e-30, 2e8], "edges": [[3, 2], [2, 1, 1e-15]],
                       "in_bits": 0.0, "out_bits": [3.7e6, 0.0, 1e-15], "weight": 1e30}]}
    return [Instance.from_dict(d) for d in (one, chain, three)]


def test_extreme_magnitudes_are_optimal_with_an_exact_objective(mincut):
    for inst in _extreme_instances():
        _, costs, _ = all_costs(inst)
        best = costs.min()
        res = mincut.solve(inst)
        _check_optimal(res, best)
        assert res.info["objective"] == pytest.approx(res.cost, rel=1e-12)
        bound = mincut_mod.MinCut.lower_bound(inst)
        assert best * (1 - 1e-9) <= bound <= best


def test_beyond_the_tolerance_it_claims_no_optimum(monkeypatch, mincut):
    inst = random_dag_instance(5, n_devices=2, n_jobs=3, layers=(2, 5))
    monkeypatch.setattr(mincut_mod, "TOLERANCE", 0.0)
    res = mincut.solve(inst)
    assert res.status == "feasible", res.error
    assert res.bound is not None and res.bound <= res.cost
    assert res.cost - res.bound == pytest.approx(res.info["tolerance"], rel=1e-6, abs=1e-15)
    assert "tolerance" in res.info["note"]


# ------------------------------------------------------------------------------ larger DAGs: a MILP
def milp_optimum(inst) -> float:
    """The capacity- and deadline-free optimum of ``inst`` by a MILP written here from SPEC.md
    section 7 (one-hot tiers per node; per transfer and hop a continuous indicator forced up by
    ``[source on the near side] + [a destination on the far side] - 1``), over
    :mod:`offbench.dag`'s job graphs and cost helpers, solved by SCIP to a 1e-10 gap."""
    from ortools.linear_solver import pywraplp

    from offbench.dag import compute_costs, hop_costs, job_graph

    total = 0.0
    for i in range(inst.n_jobs):
        g = job_graph(inst, i)
        L = g.n_nodes
        s = pywraplp.Solver.CreateSolver("SCIP")
        x = [[s.BoolVar(f"x{v}_{k}") for k in range(3)] for v in range(L)]
        for v in range(L):
            s.Add(sum(x[v]) == 1)
        obj = []
        comp = compute_costs(inst, i)
        for v in range(L):
            obj += [comp[v, k] * x[v][k] for k in range(3)]

        def transfer(src, dests, device_dest, bits):
            up, down, bh = hop_costs(inst, i, float(bits))
            # [a <= level] and [a >= level] of the source (the device: a = 0)
            le0 = 1 if src is None else x[src][0]
            le1 = 1 if src is None else x[src][0] + x[src][1]
            ge1 = 0 if src is None else x[src][1] + x[src][2]
            ge2 = 0 if src is None else x[src][2]
            h = [s.NumVar(0, 1, "") for _ in range(4)]
            for b in dests:
                s.Add(h[0] >= le0 + x[b][1] + x[b][2] - 1)      # up: a = 0, b >= 1
                s.Add(h[1] >= le1 + x[b][2] - 1)                # backhaul up: a <= 1, b = 2
                s.Add(h[2] >= ge1 + x[b][0] - 1)                # down: a >= 1, b = 0
                s.Add(h[3] >= ge2 + x[b][0] + x[b][1] - 1)      # backhaul down: a = 2, b <= 1
            if device_dest:
                s.Add(h[2] >= ge1)
                s.Add(h[3] >= ge2)
            obj.extend([up * h[0], bh * h[1], down * h[2], bh * h[3]])

        succ = [g.succ(v).tolist() for v in range(L)]
        indeg = np.bincount(g.dst, minlength=L)
        transfer(None, [v for v in range(L) if indeg[v] == 0], False, g.in_bits)
        for v in range(L):
            transfer(v, succ[v], not succ[v], g.out_bits[v])
        for e in range(g.n_edges):
            if g.edge_has_bits[e]:
                transfer(int(g.src[e]), [int(g.dst[e])], False, g.edge_bits[e])
        s.Minimize(sum(obj))
        params = pywraplp.MPSolverParameters()
        params.SetDoubleParam(params.RELATIVE_MIP_GAP, 1e-10)
        assert s.Solve(params) == pywraplp.Solver.OPTIMAL
        total += s.Objective().Value()
    return total


def test_mincut_agrees_with_a_milp_on_larger_dags(mincut):
    from offbench.dag import random_dag_instance as h5_dag

    for seed in range(4):
        inst = h5_dag(seed, n_devices=2, n_jobs=2, nodes=(25, 40), edge_prob=0.15,
                      message_prob=0.3, zero_fraction=0.1)
        res = mincut.solve(inst)
        assert res.status == "optimal"
        assert res.cost == pytest.approx(milp_optimum(inst), rel=1e-7)


def test_mincut_agrees_with_a_milp_on_traced_dnn_dags(mincut):
    from offbench.dag_profiles import load_dag_profile

    for k, model in enumerate(("resnet18", "mobilenet_v2", "googlenet")):
        d = random_instance(k, n_devices=3, n_jobs=2, layers=(1, 1)).to_dict()
        d["version"] = 2
        d["jobs"] = [load_dag_profile(model).to_job(device=int(j["device"])) for j in d["jobs"]]
        inst = Instance.from_dict(d)
        res = mincut.solve(inst)
        assert res.status == "optimal"
        assert res.cost == pytest.approx(milp_optimum(inst), rel=1e-7)
