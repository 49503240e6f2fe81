"""The DAG kernels of the cost model (SPEC.md section 7): tables, walk and move delta.

:mod:`offbench.cost` dispatches here, once per job, for DAG jobs (``t.job_dag[i]``); chains never
come here. Nothing in this module applies a formula of SPEC.md: :func:`dag_tables` combines the
per-layer and per-boundary tables that :mod:`offbench.cost` built (and its
``transfer_te`` for edge messages) into per-node tables indexed by the tier set a node's output
must reach, and the kernels only look them up. The kernels take plain arrays, not the
:class:`offbench.cost.Tables` tuple, so that the chain kernels that call them in a cold branch
stay small enough to be inlined (passing the whole tuple made the chain walk 2-5 times slower).
See :mod:`offbench.cost` ("DAG jobs") and :func:`dag_tables` for the tables' layout.

Speed (``benchmarks/scripts/bench_cost.py``, issue 15's goal: at least half the chain kernel's
layer-decisions per second on one core). A node's term needs the tiers of its successors, and
gathering them through an edge list costs more than the term itself. So the walk reads the
successor ``l + 1`` (nodes written in execution order mostly feed the next one) directly from
the decision, masked by ``t.dag_next[l]``, and the other successors from a per-job padded list
of fixed width (``t.dag_ext``, width ``t.dag_k[i]``, padded with the node itself, whose tier is
in the mask anyway): no data-dependent branch, no edge pointers. Jobs with edge messages, or
whose widest node would make that list longer than :data:`PAD_LIMIT` times their edges plus
nodes, walk the edge list (CSR) instead. The tables are flat (one index computation, no stride
multiplications) and every index is non-negative by construction, so the kernels index with
unsigned integers (Numba then emits no wrap-around test). Every path adds the same terms in the
same order (the input's, then node by node its out-edges' messages and its own term), so all of
them, and every kernel that prices a DAG job, agree bitwise.
"""

from __future__ import annotations

import numpy as np

from ._numba import jit

#: A job's padded successor list may hold at most this many times its edges plus nodes;
#: a job with a wider node (a hub feeding many others) walks its edge list instead.
PAD_LIMIT = 2

# The flat tables' strides (in float64 entries; see dag_tables).
_NODE = 64      # per node: 4 tier slots (3 used, 1 padding) x 8 tier sets x 2
_TIER = 16
_IN = 16        # per job: 8 tier sets x 2
_MSG = 32       # per edge: 16 (from, to) slots x 2


def dag_tables(inst, comp_t, comp_e, comp_c, tr_t, tr_e, tr_c, transfer_te) -> tuple:
    """The DAG fields of :class:`offbench.cost.Tables` (SPEC.md section 7); empty for an
    all-chain instance. ``transfer_te`` is :func:`offbench.cost.transfer_te` (the formulas).

    A node ``l`` of job ``i`` on tier ``a`` whose output must reach the tier set ``S`` (bit
    ``k`` for tier ``k``: its successors' tiers, *and* ``a`` itself) pays its compute and, once,
    each hop of the union of the paths from ``a`` to ``S``. Tiers lie on a line, so that union is
    the path from ``a`` down to ``min(S)`` plus the path from ``a`` up to ``max(S)``. An exit node
    (no successor) has ``S = {a}`` and its output goes to the device: its column ``S = {a}``
    holds ``a -> device`` (and any column without the bit ``a`` is never read). The tables are
    flat, pairing the cost (``*_ct``) or the energy (``*_et``) with the time, so that the walk
    reads both from one cache line:

    * ``node_ct[64 * l + 16 * a + 2 * S + (0 | 1)] = comp_c[l, a] + tr_c[b, 3 * a + min] +
      tr_c[b, 3 * a + max]`` (cost | time), ``b`` the boundary slot of ``l``'s output
      (``l + i + 1``, where ``bits`` holds ``out_bits``); ``a = 3`` is padding (a bad tier is
      refused after its node is visited);
    * ``in_ct[16 * i + 2 * S + .] = tr_c[b, 3 * 0 + max(S)]``, the input (slot ``off[i] + i``)
      from the device to the entry nodes' tiers ``S``;
    * ``msg_ct[32 * e + 2 * (4 * a + c) + .]``, edge ``e``'s own message from ``a`` to ``c``.

    The walk's successor lists (module docstring): ``dag_next[l]`` is 7 if ``(l, l + 1)`` is an
    edge of ``l``'s job, else 0; ``dag_k[i]`` is the width of job ``i``'s padded list of the other
    successors (``-1``: the job walks its edge list), which starts at ``dag_ext[dag_base[i]]``,
    ``dag_k[i]`` entries per node in file order, padded with the node itself."""
    nj, nl = inst.n_jobs, inst.n_layers
    i64 = np.int64
    if not inst.is_dag:
        e = np.empty(0)
        return (np.zeros(nj, np.int8), np.zeros(nj, np.int8), e, e, e, e,
                np.zeros(1, i64), np.zeros(0, i64), e, e, np.zeros(1, i64),
                np.zeros(0, i64), np.zeros(0, i64), np.zeros(nj + 1, i64), np.zeros(0, i64),
                np.zeros(0, i64), np.zeros(nj, i64), np.zeros(nj, i64), np.zeros(0, i64))
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
    is_exit = node_dag & (np.diff(succ_ptr) == 0)
    porder = np.lexsort((gsrc, gdst)).astype(i64)
    pred_ptr = np.searchsorted(gdst[porder], np.arange(nl + 1), side="left").astype(i64)
    entry = np.flatnonzero(node_dag & (indeg == 0)).astype(i64)
    entry_ptr = np.searchsorted(entry, off, side="left").astype(i64)
    job_msg = np.zeros(nj, np.int8)
    np.maximum.at(job_msg, ejob, inst.edge_has_bits.astype(np.int8))

    b_out = np.arange(nl) + lj + 1
    b_in = off[:-1] + np.arange(nj)
    lo = np.empty((3, 8), i64)
    hi = np.empty((3, 8), i64)
    for a in range(3):
        for m in range(8):   # m = 0 is never read; it is filled as an exit node's
            tiers = [k for k in range(3) if m >> k & 1] + [a] + ([0] if m == 0 else [])
            lo[a, m], hi[a, m] = min(tiers), max(tiers)
    in_hi = np.array([max([k for k in range(3) if m >> k & 1] or [0]) for m in range(8)])
    res = []
    for comp, tr in ((comp_c, tr_c), (comp_t, tr_t), (comp_e, tr_e)):
        node = np.zeros((nl, 4, 8))          # tier slot 3: padding
        tro = tr[b_out]
        for a in range(3):
            for m in range(8):
                node[:, a, m] = (comp[:, a] + tro[:, 3 * a + lo[a, m]]) + tro[:, 3 * a + hi[a, m]]
            node[is_exit, a, 1 << a] = node[is_exit, a, 0]     # an exit node's output: home
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
        return np.stack((a, b), axis=-1).reshape(-1)

    nxt, k, base, ext = _successor_lists(nl, nj, off, lj, gsrc, gdst, job_msg, ecount)
    return (job_dag, job_msg, pair(res[0], res[1]), pair(res[2], res[1]),
            pair(ins[0], ins[1]), pair(ins[2], ins[1]),
            succ_ptr, gdst.astype(i64), pair(msgs[0], msgs[1]), pair(msgs[2], msgs[1]), pred_ptr,
            gsrc[porder].astype(i64), porder, entry_ptr, entry, nxt, k, base, ext)


def _successor_lists(nl, nj, off, lj, gsrc, gdst, job_msg, ecount):
    """``dag_next``, ``dag_k``, ``dag_base`` and ``dag_ext`` (see :func:`dag_tables`)."""
    i64 = np.int64
    is_next = (gdst == gsrc + 1)             # within the job: edges never leave it
    nxt = np.zeros(nl, i64)
    nxt[gsrc[is_next]] = 7
    xs, xd = gsrc[~is_next], gdst[~is_next]  # the other successors, sorted by (src, dst)
    cnt = np.bincount(xs, minlength=nl)
    k = np.zeros(nj, i64)
    np.maximum.at(k, lj, cnt)
    L = np.diff(off)
    csr = (job_msg != 0) | (k * L > PAD_LIMIT * (ecount + L))
    k[csr] = -1
    width = np.maximum(k, 0)
    base = np.concatenate(([0], np.cumsum(width * L)))[:-1].astype(i64)
    node_w = width[lj]
    node_base = base[lj] + (np.arange(nl) - off[lj]) * node_w
    ext = np.repeat(np.arange(nl, dtype=i64), node_w)      # padding: the node itself
    first = np.searchsorted(xs, xs, side="left")
    rank = np.arange(xs.size) - first
    keep = node_w[xs] > 0
    ext[node_base[xs[keep]] + rank[keep]] = xd[keep]
    return nxt, k, base, ext


_U = np.uint64


@jit(_nrt=False)
def _succ_mask(succ_ptr, succ, x, p, l, k):
    """The tiers of node ``p``'s successors (a bit each), with node ``l`` on tier ``k``."""
    m = 0
    for e in range(succ_ptr[p], succ_ptr[p + 1]):
        s = succ[_U(e)]
        m |= 1 << (k if s == l else x[_U(s)])
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
        c = x[_U(succ[_U(e)])]
        m |= 1 << c
        if msgs:
            j1 = _MSG * e + 2 * (4 * k + c)
            j0 = _MSG * e + 2 * (4 * old + c)
            dc += msg_ct[_U(j1)] - msg_ct[_U(j0)]
            dt += msg_ct[_U(j1 + 1)] - msg_ct[_U(j0 + 1)]
    j1 = _NODE * l + _TIER * k + 2 * (m | (1 << k))
    j0 = _NODE * l + _TIER * old + 2 * (m | (1 << old))
    dc += node_ct[_U(j1)] - node_ct[_U(j0)]
    dt += node_ct[_U(j1 + 1)] - node_ct[_U(j0 + 1)]
    q0 = pred_ptr[l]
    q1 = pred_ptr[l + 1]
    if q0 == q1:  # an entry node: the input's tier set changes
        m0 = 0
        m1 = 0
        for q in range(entry_ptr[i], entry_ptr[i + 1]):
            v = entry[_U(q)]
            m0 |= 1 << x[_U(v)]
            m1 |= 1 << (k if v == l else x[_U(v)])
        dc += in_ct[_U(_IN * i + 2 * m1)] - in_ct[_U(_IN * i + 2 * m0)]
        dt += in_ct[_U(_IN * i + 2 * m1 + 1)] - in_ct[_U(_IN * i + 2 * m0 + 1)]
    for q in range(q0, q1):
        p = pred[_U(q)]
        a = x[_U(p)]
        j0 = _NODE * p + _TIER * a + 2 * (_succ_mask(succ_ptr, succ, x, p, l, old) | (1 << a))
        j1 = _NODE * p + _TIER * a + 2 * (_succ_mask(succ_ptr, succ, x, p, l, k) | (1 << a))
        dc += node_ct[_U(j1)] - node_ct[_U(j0)]
        dt += node_ct[_U(j1 + 1)] - node_ct[_U(j0 + 1)]
        if msgs:
            e = pred_edge[_U(q)]
            j1 = _MSG * e + 2 * (4 * a + k)
            j0 = _MSG * e + 2 * (4 * a + old)
            dc += msg_ct[_U(j1)] - msg_ct[_U(j0)]
            dt += msg_ct[_U(j1 + 1)] - msg_ct[_U(j0 + 1)]
    return dc, dt


@jit(_nrt=False)
def _dag_sum(offsets, entry_ptr, entry, succ_ptr, succ, nxt, kk, base, ext, msgs, node_ab,
             in_ab, msg_ab, i, x, both, x0):
    """Sum two DAG tables along job ``i`` under ``x`` (node ``l``'s tier is ``x[l - x0]``):
    the input term, then node by node (file order) its out-edges' own messages and its
    compute-and-output term. ``(A, B)`` (``B`` only when ``both``), or ``(nan, nan)`` at a tier
    outside {0, 1, 2}. Every kernel that prices a DAG job sums in this order."""
    l0 = offsets[i]
    l1 = offsets[i + 1]
    m = 0
    for q in range(entry_ptr[i], entry_ptr[i + 1]):
        m |= 1 << (x[_U(entry[_U(q)] - x0)] & 3)
    j = _IN * i + 2 * (m & 7)
    A = 0.0
    B = 0.0
    A += in_ab[_U(j)]
    if both:
        B += in_ab[_U(j + 1)]
    # A tier outside {0, 1, 2} sets ``bad`` when its node is visited; until then, ``& 3`` and
    # ``& 7`` keep every index inside the (padded) tables.
    bad = False
    k = kk[i]
    if msgs or k < 0:                   # the edge list (CSR)
        e = succ_ptr[l0]
        for l in range(l0, l1):
            a = x[_U(l - x0)]
            bad |= (a < 0) | (a > 2)
            a &= 3
            m = 1 << a
            e1 = succ_ptr[l + 1]
            while e < e1:
                c = x[_U(succ[_U(e)] - x0)] & 3
                m |= 1 << c
                if msgs:
                    j = _MSG * e + 2 * (4 * a + c)
                    A += msg_ab[_U(j)]
                    if both:
                        B += msg_ab[_U(j + 1)]
                e += 1
            j = _NODE * l + _TIER * a + 2 * (m & 7)
            A += node_ab[_U(j)]
            if both:
                B += node_ab[_U(j + 1)]
    elif k == 1:                        # one other successor at most (residual DNNs)
        p = base[i] - l0
        for l in range(l0, l1):
            a = x[_U(l - x0)]
            bad |= (a < 0) | (a > 2)
            a &= 3
            c = x[_U(l + 1 - x0)] if l + 1 < l1 else 0
            m = ((1 << (c & 3)) & nxt[_U(l)]) | (1 << a)
            m |= 1 << (x[_U(ext[_U(p + l)] - x0)] & 3)
            j = _NODE * l + _TIER * a + 2 * (m & 7)
            A += node_ab[_U(j)]
            if both:
                B += node_ab[_U(j + 1)]
    else:                               # k other successors per node (padded)
        p = base[i]
        for l in range(l0, l1):
            a = x[_U(l - x0)]
            bad |= (a < 0) | (a > 2)
            a &= 3
            c = x[_U(l + 1 - x0)] if l + 1 < l1 else 0
            m = ((1 << (c & 3)) & nxt[_U(l)]) | (1 << a)
            for s in range(k):
                m |= 1 << (x[_U(ext[_U(p + s)] - x0)] & 3)
            p += k
            j = _NODE * l + _TIER * a + 2 * (m & 7)
            A += node_ab[_U(j)]
            if both:
                B += node_ab[_U(j + 1)]
    if bad:
        return np.nan, np.nan
    return A, B
