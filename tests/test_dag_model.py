"""Version 2 (SPEC.md section 7): DAG jobs in the file, the arrays, the kernels and the solvers.

The kernels are checked against :func:`reference_dag`, a plain-Python reading of section 7
written from its text alone (loops over the JSON object; the hop and compute tables of section 2
come from ``tests/reference_model.py``, which is written from the spec too; nothing of
``offbench.cost`` is used). Chains written as DAGs must be stored as chains, with the digest and
the costs of version 1, bitwise.
"""

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
from offbench import Instance, InstanceError, evaluate, evaluate_many
from offbench.cost import MoveState, tables
from offbench.dag import HOPS, compute_costs, hop_costs, job_graph, random_dag_instance
from offbench.discovery import resolve
from offbench.testing import brute_force, dag_battery

from . import reference_model as ref
from .strategies import instance_dicts, nonneg
from .test_cost import SPEC_EXAMPLE


# ---------------------------------------------------------------------- the reference (section 7)
def _directed_hops(a: int, z: int) -> list:
    """The hops crossed from tier a to tier z on the line device - edge - cloud, each as
    (lower tier, upper tier, direction)."""
    if z > a:
        return [(s, s + 1, "up") for s in range(a, z)]
    return [(s - 1, s, "down") for s in range(a, z, -1)]


def _hop_name(lo: int, direction: str) -> str:
    if lo == 1:
        return "backhaul"            # edge - cloud, either way
    return "up" if direction == "up" else "down"   # device - edge


def _send(d, device, a, targets, b):
    """Time and energy of data of b bits on tier a that must reach every tier in targets: once
    over each hop of the union of the paths (section 7)."""
    hops = set()
    for z in targets:
        hops.update(_directed_hops(a, z))
    t = e = 0.0
    for lo, _, direction in sorted(hops):
        ht, he = ref.hop(d, device, _hop_name(lo, direction), b)
        t += ht
        e += he
    return t, e


def _job_graph_dict(job):
    """(L, edges [(u, v, bits or None)] 0-based, in_bits, out_bits) of a job of either form."""
    L = len(job["ops"])
    if "bits" in job:                                  # a chain (section 7: the special case)
        bits = job["bits"]
        return L, [(j, j + 1, None) for j in range(L - 1)], bits[0], bits[1:]
    edges = [(e[0] - 1, e[1] - 1, e[2] if len(e) == 3 else None) for e in job["edges"]]
    out = job.get("out_bits", [0.0] * L)
    return L, edges, job["in_bits"], out


def reference_dag(d, decision):
    """SPEC.md sections 2 and 7 in plain Python: {"cost", "feasible", "load", "jobs"}."""
    w = d["weights"]
    wt, we, wu = w["time"], w["energy"], w.get("tardiness", 0.0)
    pos = 0
    load = {1: 0.0, 2: 0.0}
    jobs = []
    total = 0.0
    for job in d["jobs"]:
        device = d["devices"][job["device"]]
        L, edges, in_bits, out_bits = _job_graph_dict(job)
        x = list(decision[pos:pos + L])
        pos += L
        T = E = 0.0
        for v in range(L):
            t, e = ref.compute(d, device, x[v], job["ops"][v])
            T += t
            E += e
            if x[v] in load:
                load[x[v]] += job["ops"][v]
        has_pred = {v for _, v, _ in edges}
        entries = [v for v in range(L) if v not in has_pred]
        t, e = _send(d, device, 0, {x[v] for v in entries}, in_bits)   # the input
        T += t
        E += e
        for v in range(L):
            succ = [c for u, c, _ in edges if u == v]
            targets = {x[c] for c in succ} | ({0} if not succ else set())
            t, e = _send(d, device, x[v], targets, out_bits[v])   # the shared output, once
            T += t
            E += e
        for u, v, b in edges:                                    # messages, each on its own
            if b is not None:
                t, e = _send(d, device, x[u], {x[v]}, b)
                T += t
                E += e
        deadline = job.get("deadline")
        U = max(0.0, T - deadline) if deadline is not None else 0.0
        cost = job.get("weight", 1.0) * (wt * T + we * E + wu * U)
        total += cost
        jobs.append({"time": T, "energy": E, "tardiness": U, "cost": cost})
    assert pos == len(decision)

    def fits(v, cap):
        return cap is None or v <= cap * (1 + 1e-9)

    return {"cost": total, "load": {"edge": load[1], "cloud": load[2]}, "jobs": jobs,
            "feasible": fits(load[1], d["edge"].get("capacity"))
            and fits(load[2], d["cloud"].get("capacity"))}


def _close(a, b, rel=1e-9):
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


# ---------------------------------------------------------------------- strategies
@st.composite
def dag_dicts(draw, max_jobs=3, max_nodes=6, **kw):
    """Version-2 instance objects: every job rewired as a random DAG (nodes in a random file
    order, so file order is not always topological), with shared outputs, several entry and
    exit nodes, edge messages (some of 0 bits), and some jobs left as chains."""
    d = draw(instance_dicts(max_jobs=max_jobs, max_layers=max_nodes, **kw))
    d["version"] = 2
    for job in d["jobs"]:
        if draw(st.integers(0, 4)) == 0:
            continue                                       # a version-1 chain among DAGs
        bits = job.pop("bits")
        L = len(job["ops"])
        perm = draw(st.permutations(range(1, L + 1)))      # topological rank -> file number
        edges = []
        for a in range(L):
            for b in range(a + 1, L):
                if draw(st.integers(0, 2)) == 0:
                    continue
                e = [perm[a], perm[b]]
                if draw(st.integers(0, 3)) == 0:
                    e.append(draw(st.one_of(st.just(0.0), nonneg)))
                edges.append(e)
        job["edges"] = draw(st.permutations(edges))
        job["in_bits"] = bits[0]
        job["out_bits"] = bits[1:]
    return d


def _n(d):
    return sum(len(j["ops"]) for j in d["jobs"])


@st.composite
def dag_and_decisions(draw, n_decisions=4, **kw):
    d = draw(dag_dicts(**kw))
    n = _n(d)
    xs = draw(st.lists(st.lists(st.integers(0, 2), min_size=n, max_size=n), min_size=1,
                       max_size=n_decisions))
    return d, xs


# ---------------------------------------------------------------------- the kernels vs the reference
def _check_against_reference(case):
    d, xs = case
    inst = Instance.from_dict(d)
    X = np.array(xs, dtype=np.int8)
    many, feas, _ = evaluate_many(inst, X, with_feasibility=True, parallel=False)
    for r, x in enumerate(xs):
        want = reference_dag(d, x)
        ev = evaluate(inst, x)
        assert _close(ev.cost, want["cost"]), (ev.cost, want["cost"])
        assert _close(many[r], want["cost"])
        assert ev.feasible == want["feasible"] == bool(feas[r])
        for got, exp in zip(ev.jobs, want["jobs"]):
            assert _close(got.time, exp["time"]) and _close(got.energy, exp["energy"])
            assert _close(got.tardiness, exp["tardiness"], rel=1e-7) or abs(
                got.tardiness - exp["tardiness"]) < 1e-9 * max(1.0, exp["time"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag_and_decisions())
def test_kernels_match_the_section_7_reference(case):
    _check_against_reference(case)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag_and_decisions(max_jobs=4, max_nodes=8, n_decisions=8))
def test_kernels_match_the_section_7_reference_thoroughly(case):
    _check_against_reference(case)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag_and_decisions(n_decisions=1), st.data())
def test_move_deltas_follow_the_reference(case, data):
    """O(degree) move deltas: a random walk of moves keeps the cost and the per-job times of
    the decision it reaches (tardiness included), up to the rounding of running sums (relative
    to the largest value they held)."""
    d, xs = case
    inst = Instance.from_dict(d)
    ms = MoveState(inst, xs[0])
    n = inst.n_layers
    peak_c = max(1.0, abs(ms.cost))
    peak_t = np.maximum(1.0, np.abs(ms.job_T))
    for _ in range(12):
        layer = data.draw(st.integers(0, n - 1))
        tier = data.draw(st.integers(0, 2))
        before = ms.cost
        d_cost, _, _ = ms.delta(layer, tier)
        ms.apply(layer, tier)
        want = reference_dag(d, ms.x.tolist())
        peak_c = max(peak_c, abs(want["cost"]), abs(ms.cost))
        peak_t = np.maximum(peak_t, np.abs(ms.job_T))
        assert abs(before + d_cost - want["cost"]) <= 1e-9 * peak_c
        assert abs(ms.cost - want["cost"]) <= 1e-9 * peak_c
        for i, j in enumerate(want["jobs"]):
            assert abs(ms.job_T[i] - j["time"]) <= 1e-9 * max(peak_t[i], j["time"])


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance_dicts(max_jobs=3, max_layers=6), st.data())
def test_a_chain_written_as_a_dag_is_a_version_1_chain(d, data):
    """Stored in version-1 form: same digest, same arrays, the same cost for every decision,
    bitwise; the edges may come in any order."""
    v1 = Instance.from_dict(d)
    d2 = copy.deepcopy(d)
    d2["version"] = 2
    for job in d2["jobs"]:
        if data.draw(st.booleans()):
            bits = job.pop("bits")
            L = len(job["ops"])
            job["edges"] = data.draw(st.permutations([[j, j + 1] for j in range(1, L)]))
            job["in_bits"] = bits[0]
            job["out_bits"] = bits[1:]
    v2 = Instance.from_dict(d2)
    assert not v2.is_dag and v2.job_is_dag is None and v2.edge_src is None
    assert v2.digest == v1.digest
    assert v2.to_dict() == v1.to_dict() and v2.to_dict()["version"] == 1
    n = v1.n_layers
    X = np.array(list(itertools.product(range(3), repeat=n)) if n <= 6 else
                 np.random.default_rng(0).integers(0, 3, (200, n)), dtype=np.int8)
    assert np.array_equal(evaluate_many(v1, X, parallel=False), evaluate_many(v2, X, parallel=False))
    assert evaluate(v1, X[-1]).to_dict() == evaluate(v2, X[-1]).to_dict()


def _as_dag_walked(inst: Instance) -> Instance:
    """The same chains, forced through the DAG kernels (bypassing the normalization that
    stores chains as chains): for checking the DAG walk on the special case."""
    forced = Instance.from_dict(inst.to_dict())
    nj = inst.n_jobs
    L = inst.layers_per_job
    src = np.concatenate([np.arange(n - 1) for n in L]).astype(np.int64)
    for k, v in dict(job_is_dag=np.ones(nj, bool),
                     edge_offsets=np.concatenate(([0], np.cumsum(L - 1))).astype(np.int64),
                     edge_src=src, edge_dst=src + 1, edge_bits=np.zeros(src.size),
                     edge_has_bits=np.zeros(src.size, bool)).items():
        object.__setattr__(forced, k, v)
    forced.__dict__.pop("_offbench_tables", None)
    return forced


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance_dicts(max_jobs=3, max_layers=6), st.data())
def test_the_dag_walk_on_a_chain_agrees_with_the_chain_walk(d, data):
    v1 = Instance.from_dict(d)
    forced = _as_dag_walked(v1)
    assert tables(forced).job_dag.all()
    n = v1.n_layers
    X = np.array(data.draw(st.lists(st.lists(st.integers(0, 2), min_size=n, max_size=n),
                                    min_size=1, max_size=6)), dtype=np.int8)
    a = evaluate_many(v1, X, parallel=False)
    b = evaluate_many(forced, X, parallel=False)
    assert np.allclose(a, b, rtol=1e-12, atol=0)


# ---------------------------------------------------------------------- section 7's rules, by hand
def _one_job(edges, ops, in_bits, out_bits, **dev):
    d = copy.deepcopy(SPEC_EXAMPLE)
    d["version"] = 2
    d["weights"] = {"time": 1.0, "energy": 0.0}
    d["devices"][0].update(dev)
    d["jobs"] = [{"device": 0, "ops": ops, "edges": edges, "in_bits": in_bits,
                  "out_bits": out_bits}]
    return d


def test_a_shared_output_travels_once_over_each_hop():
    """A node on the device with children on the edge and the cloud pays up once and the
    backhaul once; on the edge with children on the device and the cloud, down and backhaul."""
    d = _one_job([[1, 2], [1, 3]], [0.0, 0.0, 0.0], 0.0, [8e6, 0.0, 0.0])
    inst = Instance.from_dict(d)
    hc = hop_costs(inst, 0, 8e6)                       # up, down, backhaul with 8e6 bits
    h0 = hop_costs(inst, 0, 0.0)
    # exits 2 and 3 send 0 bits home; node 1's 8e6 bits go up once, then over the backhaul
    got = evaluate(inst, [0, 1, 2]).cost
    want = hc[0] + hc[2] + (h0[1]) + (h0[2] + h0[1])   # 1's output; 2 -> 0 (down); 3 -> 0
    assert got == pytest.approx(want, rel=1e-12)
    assert got < hc[0] * 2 + hc[2]                     # never paid twice
    got = evaluate(inst, [1, 0, 2]).cost               # input 0->1 (0 bits): up latency
    want = h0[0] + hc[1] + hc[2] + 0.0 + (h0[2] + h0[1])
    assert got == pytest.approx(want, rel=1e-12)
    for x in itertools.product(range(3), repeat=3):
        assert evaluate(inst, x).cost == pytest.approx(reference_dag(d, x)["cost"], rel=1e-12)


def test_exit_nodes_messages_of_zero_bits_and_several_entries():
    d = _one_job([[1, 3, 0.0], [2, 3]], [1e8, 2e8, 3e8], 4e5, [1e5, 2e5, 3e5])
    inst = Instance.from_dict(d)
    g = job_graph(inst, 0)
    assert g.entries.tolist() == [0, 1] and g.exits.tolist() == [2]
    assert inst.edge_has_bits.tolist() == [True, False]
    lat = hop_costs(inst, 0, 0.0)
    # the message of 0 bits from node 1 (edge) to node 3 (device) pays the down hop's latency
    a = evaluate(inst, [1, 0, 0]).cost
    b = Instance.from_dict(_one_job([[1, 3], [2, 3]], [1e8, 2e8, 3e8], 4e5,
                                    [1e5, 2e5, 3e5]))
    assert a == pytest.approx(evaluate(b, [1, 0, 0]).cost + lat[1], rel=1e-12)
    for x in itertools.product(range(3), repeat=3):
        assert evaluate(inst, x).cost == pytest.approx(reference_dag(d, x)["cost"], rel=1e-12)


def test_hop_and_compute_costs_are_the_cost_models():
    inst = random_dag_instance(3, n_jobs=2, nodes=(3, 4))
    for i in range(inst.n_jobs):
        dev = inst.to_dict()["devices"][int(inst.job_device[i])]
        d = inst.to_dict()
        w = float(inst.job_weight[i])
        for b in (0.0, 1e6):
            h = hop_costs(inst, i, b)
            for k, name in enumerate(HOPS):
                t, e = ref.hop(d, dev, name, b)
                assert h[k] == pytest.approx(w * (inst.w_time * t + inst.w_energy * e), rel=1e-12)
                assert hop_costs(inst, i, b, "time")[k] == pytest.approx(t, rel=1e-12)
        cc = compute_costs(inst, i, "energy")
        for v, c in enumerate(inst.job_ops(i)):
            for k in range(3):
                assert cc[v, k] == pytest.approx(ref.compute(d, dev, k, float(c))[1], rel=1e-12)
    assert hop_costs(inst, 0, np.zeros((2, 5))).shape == (2, 5, 3)


def test_job_graph_of_a_chain_and_topological_order():
    inst = Instance.from_dict(SPEC_EXAMPLE)
    g = job_graph(inst, 0)
    assert not g.is_dag and g.src.tolist() == [0, 1] and g.dst.tolist() == [1, 2]
    assert g.in_bits == SPEC_EXAMPLE["jobs"][0]["bits"][0]
    assert g.topo_order().tolist() == [0, 1, 2]
    d = _one_job([[3, 1], [2, 3]], [1.0, 1.0, 1.0], 0.0, [0.0, 0.0, 0.0])
    g = job_graph(Instance.from_dict(d), 0)
    assert g.topo_order().tolist() == [1, 2, 0]
    assert g.succ(2).tolist() == [0] and g.pred(2).tolist() == [1]


# ---------------------------------------------------------------------- the file
def _dag_example():
    return _one_job([[1, 2], [1, 3], [2, 3, 5e3]], [2e8, 4e8, 1e8], 1.2e6, [6e5, 2e5, 8e3])


@pytest.mark.parametrize("edges, out_bits, path, needle", [
    ([[1, 2], [2, 3], [3, 1]], [1, 1, 1], "jobs[0].edges[", "closes a cycle"),
    ([[2, 2]], [1, 1, 1], "jobs[0].edges[0]", "self-loop"),
    ([[1, 4]], [1, 1, 1], "jobs[0].edges[0]", "node 4, which does not exist"),
    ([[0, 2]], [1, 1, 1], "jobs[0].edges[0]", "node 0, which does not exist"),
    ([[1, 2], [1, 3], [1, 2]], [1, 1, 1], "jobs[0].edges[2]", "duplicate edge [1, 2]"),
    ([[1, 2]], [1, 1], "jobs[0].out_bits", "expected 3 values"),
    ([[1, 2]], None, "jobs[0].out_bits", "missing"),
    ([[1, 2, -1.0]], [1, 1, 1], "jobs[0].edges[0][2]", ">= 0"),
    ([[1, 2, 3, 4]], [1, 1, 1], "jobs[0].edges[0]", "[u, v] or [u, v, bits]"),
    ([[1, True]], [1, 1, 1], "jobs[0].edges[0]", "node number"),
    # 1.0 lies in 1..3: the message must say what is wrong with it (not an integer)
    ([[1.0, 2]], [1, 1, 1], "jobs[0].edges[0]", "expected an integer node number in 1..3 for u"),
])
def test_bad_dag_jobs_are_refused_with_a_named_field(edges, out_bits, path, needle):
    d = _one_job(edges, [1.0, 2.0, 3.0], 1.0, out_bits)
    if out_bits is None:
        del d["jobs"][0]["out_bits"]
    with pytest.raises(InstanceError) as e:
        Instance.from_json(json.dumps(d))
    assert str(e.value).startswith(path), str(e.value)
    assert needle in str(e.value), str(e.value)


def test_a_cycle_names_an_edge_on_it_and_shows_the_cycle():
    d = _one_job([[1, 2], [2, 3], [3, 2]], [1.0, 2.0, 3.0], 1.0, [1, 1, 1])
    with pytest.raises(InstanceError, match=r"jobs\[0\]\.edges\[1\]: the edge \[2, 3\] closes a "
                                            r"cycle \(2 -> 3 -> 2\)"):
        Instance.from_dict(d)


def test_out_bits_default_to_zeros_when_every_edge_carries_a_message():
    d = _one_job([[1, 2, 5.0], [1, 3, 6.0]], [1.0, 2.0, 3.0], 1.0, None)
    del d["jobs"][0]["out_bits"]
    inst = Instance.from_dict(d)
    assert inst.out_bits.tolist() == [0.0, 0.0, 0.0] and inst.edge_bits.tolist() == [5.0, 6.0]


def test_dag_keys_need_version_2_and_versions_are_checked():
    d = _dag_example()
    d["version"] = 1
    with pytest.raises(InstanceError, match=r'jobs\[0\]\.edges: .*needs "version": 2'):
        Instance.from_dict(d)
    d["version"] = 3
    with pytest.raises(InstanceError, match="^version: expected 1 or 2"):
        Instance.from_dict(d)


def test_json_and_npz_round_trips_of_a_dag(tmp_path):
    inst = Instance.from_dict(_dag_example())
    assert inst.is_dag and inst.to_dict()["version"] == 2
    again = Instance.from_json(inst.to_json())
    assert again == inst and again.to_json() == inst.to_json()
    p = tmp_path / "x.npz"
    offbench.save_instance(inst, p)
    back = offbench.load_instance(p)
    assert back == inst and np.array_equal(back.edge_has_bits, inst.edge_has_bits)
    x = [1, 2, 0]
    assert evaluate(back, x).cost == evaluate(inst, x).cost
    # the edges' file order does not change the digest
    d = _dag_example()
    d["jobs"][0]["edges"].reverse()
    assert Instance.from_dict(d).digest == inst.digest


def test_the_edge_limit_covers_json_and_npz(monkeypatch, tmp_path):
    inst = Instance.from_dict(_dag_example())
    p = tmp_path / "x.npz"
    offbench.save_instance(inst, p)
    monkeypatch.setenv("OFFBENCH_MAX_EDGES", "2")
    with pytest.raises(InstanceError, match="3 edges of DAG jobs in an instance is over the "
                                            "limit of 2.*OFFBENCH_MAX_EDGES"):
        Instance.from_json(inst.to_json())
    with pytest.raises(InstanceError, match="OFFBENCH_MAX_EDGES"):
        offbench.load_instance(p)


def test_a_version_1_file_keeps_its_digest():
    inst = Instance.from_dict(SPEC_EXAMPLE)
    assert not inst.is_dag and inst.to_dict()["version"] == 1
    assert inst.digest == "71189d5d6f16840c08763f06d54e490c5872dca299ecc2e2025c61f8b73d8662"


# ---------------------------------------------------------------------- solvers
def test_exhaustive_is_the_referee_on_small_dags():
    for inst in dag_battery():
        r = offbench.solve(inst, "exhaustive")
        opt = brute_force(inst)
        assert r.status == "optimal" and r.cost == pytest.approx(opt.cost, rel=1e-9, abs=1e-12)


def test_a_solver_without_handles_dag_is_refused_by_name():
    inst = random_dag_instance(0, name="tiny-dag")
    r = offbench.solve(inst, "dp")
    assert r.status == "error" and r.decision is None
    assert r.error.startswith("unsupported: dp-v1 does not handle DAG jobs")
    assert "'tiny-dag'" in r.error
    assert resolve("dp").handles_dag is False and resolve("exhaustive").handles_dag is True
