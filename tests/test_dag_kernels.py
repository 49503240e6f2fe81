"""The DAG walk's successor lists and its three paths (offbench/_dag_kernels.py).

The walk prices a node from its successors' tiers, read either through the padded lists
(``dag_next`` for the successor ``l + 1``, ``dag_ext`` for the others: a fast path for at most
one other successor per node and a general one) or through the edge list (jobs with edge
messages, or with a hub that would make the padded list too long). The paths add the same
terms in the same order, so their costs must agree bitwise; the section-7 reference of
``tests/test_dag_model.py`` checks the costs themselves.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offbench import Instance, evaluate, evaluate_many
from offbench import _dag_kernels
from offbench.cost import MoveState, tables
from offbench.dag import job_graph, random_dag_instance
from offbench.errors import DecisionError

from .test_dag_model import dag_dicts, reference_dag


def _fresh(inst: Instance) -> Instance:
    return Instance.from_dict(inst.to_dict())


def _successors_from_lists(t, inst, i):
    """Each node's successors as the walk reads them (the padding, the node itself, left out)."""
    l0, l1 = int(inst.layer_offsets[i]), int(inst.layer_offsets[i + 1])
    k, base = int(t.dag_k[i]), int(t.dag_base[i])
    out = []
    for l in range(l0, l1):
        s = {l + 1 - l0} if t.dag_next[l] else set()
        s |= {int(v) - l0 for v in t.dag_ext[base + (l - l0) * k: base + (l - l0 + 1) * k]
              if v != l}
        out.append(s)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag_dicts(max_jobs=3, max_nodes=9))
def test_the_padded_lists_hold_every_successor(d):
    inst = Instance.from_dict(d)
    t = tables(inst)
    for i in range(inst.n_jobs):
        if not t.job_dag[i]:
            continue
        g = job_graph(inst, i)
        if t.dag_k[i] < 0:
            assert t.job_msg[i] or t.dag_k[i] == -1
            continue
        assert not t.job_msg[i]
        want = [set(g.succ(v).tolist()) for v in range(g.n_nodes)]
        assert _successors_from_lists(t, inst, i) == want


def _costs_on_every_path(inst, X, monkeypatch):
    """The costs (and a full evaluation) of X with the padded lists, then with every job forced
    onto the edge list."""
    a = _fresh(inst)
    ta = tables(a)
    ca = evaluate_many(a, X, parallel=False)
    ea = [evaluate(a, x).to_dict() for x in X[:3]]
    monkeypatch.setattr(_dag_kernels, "PAD_LIMIT", -1)
    b = _fresh(inst)
    tb = tables(b)
    assert (tb.dag_k[tb.job_dag != 0] == -1).all()
    cb = evaluate_many(b, X, parallel=False)
    eb = [evaluate(b, x).to_dict() for x in X[:3]]
    monkeypatch.undo()
    return ta, ca, cb, ea, eb


@pytest.mark.parametrize("message_prob", [0.0, 0.3])
@pytest.mark.parametrize("seed", range(6))
def test_the_walk_paths_agree_bitwise(seed, message_prob, monkeypatch):
    inst = random_dag_instance(seed, n_jobs=4, nodes=(3, 10), edge_prob=0.4,
                               message_prob=message_prob, deadlines=seed % 2 == 0,
                               capacities=seed % 3 == 0)
    X = np.random.default_rng(seed).integers(0, 3, (64, inst.n_layers)).astype(np.int8)
    ta, ca, cb, ea, eb = _costs_on_every_path(inst, X, monkeypatch)
    assert np.array_equal(ca, cb)
    assert ea == eb
    d = inst.to_dict()
    for r in range(4):
        assert ca[r] == pytest.approx(reference_dag(d, X[r].tolist())["cost"], rel=1e-12)


def _residual_job(n_blocks):
    """A chain with a skip edge around every pair of nodes: each block input feeds the next
    node and the add two further on (at most one other successor: the fast path)."""
    edges, n = [], 1
    for _ in range(n_blocks):
        edges += [[n, n + 1], [n + 1, n + 2], [n, n + 2]]
        n += 2
    return n, edges


def _instance(jobs_edges, seed=0, messages=False):
    base = random_dag_instance(seed, n_jobs=len(jobs_edges), nodes=(2, 2))
    d = base.to_dict()
    rng = np.random.default_rng(seed)
    d["version"] = 2
    for job, (n, edges) in zip(d["jobs"], jobs_edges):
        job.pop("bits", None)
        job["ops"] = rng.uniform(1e6, 1e8, n).tolist()
        job["in_bits"] = float(rng.uniform(1e4, 1e6))
        job["out_bits"] = rng.uniform(1e4, 1e6, n).tolist()
        job["edges"] = [e + [float(rng.uniform(0, 1e5))] if messages else e for e in edges]
    return Instance.from_dict(d)


def test_each_job_takes_the_path_its_shape_calls_for(monkeypatch):
    star = (12, [[1, v] for v in range(2, 13)])             # a hub: the edge list
    fan = (9, [[1, 2], [1, 3], [1, 4], [2, 5], [3, 5], [4, 5], [5, 6], [6, 7], [5, 7], [7, 8],
               [8, 9], [5, 9]])                             # two other successors at most
    inst = _instance([_residual_job(5), star, fan])
    t = tables(inst)
    assert t.dag_k.tolist() == [1, -1, 2]
    X = np.random.default_rng(1).integers(0, 3, (200, inst.n_layers)).astype(np.int8)
    ta, ca, cb, ea, eb = _costs_on_every_path(inst, X, monkeypatch)
    assert np.array_equal(ca, cb) and ea == eb
    d = inst.to_dict()
    for r in range(5):
        assert ca[r] == pytest.approx(reference_dag(d, X[r].tolist())["cost"], rel=1e-12)
    msgs = _instance([_residual_job(3)], messages=True)
    assert tables(msgs).dag_k.tolist() == [-1] and tables(msgs).job_msg.tolist() == [1]


def test_a_bad_tier_is_refused_on_every_path(monkeypatch):
    inst = _instance([_residual_job(3), (12, [[1, v] for v in range(2, 13)]),
                      (5, [[1, 2], [1, 3], [1, 4], [2, 5], [3, 5], [4, 5]])])
    n = inst.n_layers
    off = inst.layer_offsets
    for i in range(inst.n_jobs):
        for bad in (3, -1, 7):
            x = np.zeros((1, n), np.int8)
            c = off[i + 1] - 1
            x[0, c] = bad                      # the job's last node: visited last
            # the kernel's NaN is what makes evaluate_many look for the bad value
            with pytest.raises(DecisionError, match=rf"decisions\[0, {c}\]"):
                evaluate_many(inst, x, parallel=False)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 6), st.data())
def test_move_deltas_on_the_fast_path(n_blocks, data):
    """Moves on a residual job (the fast path's shape) keep the walk's cost."""
    inst = _instance([_residual_job(n_blocks), _residual_job(2)])
    assert tables(inst).dag_k.tolist() == [1, 1]
    n = inst.n_layers
    x0 = data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    ms = MoveState(inst, x0)
    for _ in range(10):
        layer, tier = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, 2))
        ms.apply(layer, tier)
        want = evaluate(inst, ms.x).cost
        assert ms.cost == pytest.approx(want, rel=1e-9)
