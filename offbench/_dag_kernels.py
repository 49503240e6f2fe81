"""The DAG kernels of the cost model (SPEC.md section 7): tables, walk and move delta.

:mod:`offbench.cost` dispatches here, once per job, for DAG jobs (``t.job_dag[i]``); chains never
come here. Nothing in this module applies a formula of SPEC.md: :func:`dag_tables` combines the
per-layer and per-boundary tables that :mod:`offbench.cost` built (and its
``transfer_te`` for edge messages) into per-node tables indexed by the tier set a node's output
must reach, and the kernels only look them up. The kernels take plain arrays, not the
:class:`offbench.cost.Tables` tuple, so that the chain kernels that call them in a cold branch
stay small enough to be inlined (passing the whole tuple made the chain walk 2-5 times slower).
See :mod:`offbench.cost` ("DAG jobs") for the tables' layout.
"""

from __future__ import annotations

import numpy as np

from ._numba import jit


def dag_tables(inst, comp_t, comp_e, comp_c, tr_t, tr_e, tr_c, transfer_te) -> tuple:
    """The DAG fields of :class:`offbench.cost.Tables` (SPEC.md section 7); empty for an
    all-chain instance. ``transfer_te`` is :func:`offbench.cost.transfer_te` (the formulas).

    A node ``l`` of job ``i`` on tier ``a`` whose output must reach the tier set ``S`` (bit
    ``k`` for tier ``k``: its successors' tiers; ``S = 0`` stands for an exit node's, which
    must reach the device) pays its
    compute and, once, each hop of the union of the paths from ``a`` to ``S``. Tiers lie on a
    line, so that union is the path from ``a`` down to ``min(S | {a})`` plus the path from ``a``
    up to ``max(S | {a})``: ``node_ct[l, 8 * a + S, 0] = comp_c[l, a] + tr_c[b, lo] + tr_c[b, hi]``
    with ``b`` the boundary slot of ``l``'s output (``l + i + 1``, where ``bits`` holds
    ``out_bits``). The input (slot ``off[i] + i``) travels from the device to the entry nodes'
    tiers: ``in_ct[i, S, 0] = tr_c[b, 3 * 0 + max(S)]``. An edge's own message from ``a`` to
    ``c`` is ``msg_ct[e, 4 * a + c, 0]``. The last axis pairs the cost (``*_ct``) or the energy
    (``*_et``) with the time, so that the walk reads both from one cache line; the tables are
    padded (32 and 16 columns) so that the walk can index them with any tier before it refuses
    a bad one."""
    nj, nl = inst.n_jobs, inst.n_layers
    i64 = np.int64
    if not inst.is_dag:
        e32, e8, e16 = np.empty((0, 32, 2)), np.empty((0, 8, 2)), np.empty((0, 16, 2))
        return (np.zeros(nj, np.int8), np.zeros(nj, np.int8), e32, e32,
                e8, e8, np.zeros(1, i64), np.zeros(0, i64), e16, e16, np.zeros(1, i64),
                np.zeros(0, i64), np.zeros(0, i64), np.zeros(nj + 1, i64), np.zeros(0, i64))
    off = inst.layer_offsets
    lj = inst.layer_job
    job_dag = inst.job_is_dag.astype(np.int8)
    eoff = inst.edge_offsets
    ecount = np.diff(eoff)
    ejob = np.repeat(np.arange(nj, dtype=i64), ecount)
    gsrc = off[ejob] + inst.edge_src        # sorted: by job, then src, then dst
    gdst = off[ejob] + inst.edge_dst
    ne = gsrc.size
    succ_ptr = np.searchsorted(gsrc, np.arange(nl + 1), side="left").astype(i64)
    indeg = np.bincount(gdst, minlength=nl)
    node_dag = job_dag[lj].astype(bool)
    porder = np.lexsort((gsrc, gdst)).astype(i64)
    pred_ptr = np.searchsorted(gdst[porder], np.arange(nl + 1), side="left").astype(i64)
    entry = np.flatnonzero(node_dag & (indeg == 0)).astype(i64)
    entry_ptr = np.searchsorted(entry, off, side="left").astype(i64)
    job_msg = np.zeros(nj, np.int8)
    np.maximum.at(job_msg, ejob, inst.edge_has_bits.astype(np.int8))

    b_out = np.arange(nl) + lj + 1
    b_in = off[:-1] + np.arange(nj)
    masks = np.arange(8)
    lo = np.empty((3, 8), i64)
    hi = np.empty((3, 8), i64)
    for a in range(3):
        for m in range(8):   # m = 0: an exit node's (no successor): to the device
            tiers = [k for k in range(3) if m >> k & 1] + [a] + ([0] if m == 0 else [])
            lo[a, m], hi[a, m] = min(tiers), max(tiers)
    in_hi = np.array([max([k for k in range(3) if m >> k & 1] or [0]) for m in masks])
    res = []
    for comp, tr in ((comp_c, tr_c), (comp_t, tr_t), (comp_e, tr_e)):
        node = np.zeros((nl, 32))          # columns 24-31: padding (see _dag_sum)
        tro = tr[b_out]
        for a in range(3):
            for m in range(8):
                node[:, 8 * a + m] = (comp[:, a] + tro[:, 3 * a + lo[a, m]]) + tro[:, 3 * a + hi[a, m]]
        res.append(node)
    ins = [tr[b_in][:, in_hi] for tr in (tr_c, tr_t, tr_e)]
    d = inst.job_device[ejob]
    msg_t, msg_e = transfer_te(inst, d, inst.edge_bits)
    w = inst.job_weight[ejob][:, None]
    msg_c = w * (inst.w_time * msg_t + inst.w_energy * msg_e)
    has = inst.edge_has_bits[:, None]
    cols = [4 * a + c for a in range(3) for c in range(3)]
    msgs = []
    for m in (msg_c, msg_t, msg_e):
        padded = np.zeros((ne, 16))                  # [e, 4 * a + c]; the rest is padding
        padded[:, cols] = np.where(has, m, 0.0)
        msgs.append(padded)
    def pair(a, b):
        return np.stack((a, b), axis=-1)

    return (job_dag, job_msg, pair(res[0], res[1]), pair(res[2], res[1]),
            pair(ins[0], ins[1]), pair(ins[2], ins[1]),
            succ_ptr, gdst.astype(i64), pair(msgs[0], msgs[1]), pair(msgs[2], msgs[1]), pred_ptr,
            gsrc[porder].astype(i64), porder, entry_ptr, entry)


@jit(_nrt=False)
def _succ_mask(succ_ptr, succ, x, p, l, k):
    """The tier set node ``p``'s output must reach, with node ``l`` on tier ``k`` (0 for an exit
    node: its table column 0 is the device's)."""
    m = 0
    for e in range(succ_ptr[p], succ_ptr[p + 1]):
        s = succ[e]
        m |= 1 << (k if s == l else x[s])
    return m


@jit(_nrt=False)
def _dag_delta(succ_ptr, succ, pred_ptr, pred, pred_edge, entry_ptr, entry,
               node_ct, in_ct, msg_ct, msgs, x, l, k, i):
    """The change of the linear cost and of the time when node ``l`` of DAG job ``i`` moves to
    tier ``k``: the terms that name ``l``'s tier (its own compute-and-output term, its in- and
    out-edges' messages, each predecessor's output term, and the input's when ``l`` is an
    entry node). O(degree of ``l`` + out-degrees of its predecessors)."""
    old = x[l]
    m = 0
    dc = 0.0
    dt = 0.0
    for e in range(succ_ptr[l], succ_ptr[l + 1]):
        c = x[succ[e]]
        m |= 1 << c
        if msgs:
            dc += msg_ct[e, 4 * k + c, 0] - msg_ct[e, 4 * old + c, 0]
            dt += msg_ct[e, 4 * k + c, 1] - msg_ct[e, 4 * old + c, 1]
    dc += node_ct[l, 8 * k + m, 0] - node_ct[l, 8 * old + m, 0]
    dt += node_ct[l, 8 * k + m, 1] - node_ct[l, 8 * old + m, 1]
    q0 = pred_ptr[l]
    q1 = pred_ptr[l + 1]
    if q0 == q1:  # an entry node: the input's tier set changes
        m0 = 0
        m1 = 0
        for q in range(entry_ptr[i], entry_ptr[i + 1]):
            v = entry[q]
            m0 |= 1 << x[v]
            m1 |= 1 << (k if v == l else x[v])
        dc += in_ct[i, m1, 0] - in_ct[i, m0, 0]
        dt += in_ct[i, m1, 1] - in_ct[i, m0, 1]
    for q in range(q0, q1):
        p = pred[q]
        a = x[p]
        j0 = 8 * a + _succ_mask(succ_ptr, succ, x, p, l, old)
        j1 = 8 * a + _succ_mask(succ_ptr, succ, x, p, l, k)
        dc += node_ct[p, j1, 0] - node_ct[p, j0, 0]
        dt += node_ct[p, j1, 1] - node_ct[p, j0, 1]
        if msgs:
            e = pred_edge[q]
            dc += msg_ct[e, 4 * a + k, 0] - msg_ct[e, 4 * a + old, 0]
            dt += msg_ct[e, 4 * a + k, 1] - msg_ct[e, 4 * a + old, 1]
    return dc, dt


@jit(_nrt=False)
def _dag_sum(offsets, entry_ptr, entry, succ_ptr, succ, msgs, node_ab, in_ab, msg_ab, i, x,
             both, x0):
    """Sum two DAG tables along job ``i`` under ``x`` (node ``l``'s tier is ``x[l - x0]``):
    the input term, then node by node (file order) its out-edges' own messages and its
    compute-and-output term. ``(A, B)`` (``B`` only when ``both``), or ``(nan, nan)`` at a tier
    outside {0, 1, 2}. Every kernel that prices a DAG job sums in this order."""
    l0 = offsets[i]
    l1 = offsets[i + 1]
    bad = False
    A = 0.0
    B = 0.0
    m = 0
    for q in range(entry_ptr[i], entry_ptr[i + 1]):
        m |= 1 << (x[entry[q] - x0] & 3)
    A += in_ab[i, m & 7, 0]
    if both:
        B += in_ab[i, m & 7, 1]
    # A tier outside {0, 1, 2} sets ``bad`` when its node is visited; until then, ``& 3`` and
    # ``& 7`` keep every index inside the (padded) tables.
    e = succ_ptr[l0]
    if not msgs:                        # the common case (DNNs): one loop without messages
        for l in range(l0, l1):
            a = x[l - x0]
            bad |= (a < 0) | (a > 2)
            a &= 3
            m = 0
            e1 = succ_ptr[l + 1]
            while e < e1:
                m |= 1 << (x[succ[e] - x0] & 3)
                e += 1
            j = 8 * a + (m & 7)
            A += node_ab[l, j, 0]
            if both:
                B += node_ab[l, j, 1]
    else:
        for l in range(l0, l1):
            a = x[l - x0]
            bad |= (a < 0) | (a > 2)
            a &= 3
            m = 0
            e1 = succ_ptr[l + 1]
            while e < e1:
                c = x[succ[e] - x0] & 3
                m |= 1 << c
                A += msg_ab[e, 4 * a + c, 0]
                if both:
                    B += msg_ab[e, 4 * a + c, 1]
                e += 1
            j = 8 * a + (m & 7)
            A += node_ab[l, j, 0]
            if both:
                B += node_ab[l, j, 1]
    if bad:
        return np.nan, np.nan
    return A, B
