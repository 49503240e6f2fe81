"""Shared chain pieces: the backward Viterbi pass over one job's (layer, tier) states, and the
exact per-job solver (Viterbi, or the Pareto-label DP over ``(C, T)`` with a deadline) of dp.

A job is a chain of ``L`` layers; the state after layer ``p`` is its tier ``k``. The cost model's
fused step tables (:func:`offbench.cost.tables`: ``step_c[l, 3 * prev + k]`` is layer ``l``'s
compute plus the transfer into it, ``end_c[i, k]`` the result's way home, and the same for
times) make every completion a path through a layered graph, and one backward pass gives, per
state, the best completion for a weight. :func:`backward` computes the four that dp (exact per
job) and the path formulation of milp / lp-bound (Lagrangian pricing, label bounds) need, in one
copy. :func:`solve_jobs` solves each job exactly, capacities aside (see
:mod:`offbench_solvers.dp` for the method and its proof); dp calls it on the cost tables, and the
path formulation's pricing on *priced* tables (:func:`priced_tables`: ``lam`` per op added to the
edge and cloud steps), where it is the Lagrangian subproblem. Sums follow the order of :func:`offbench.cost.job_walk` (step entries added to the
completion), so a path read off ``arg`` and priced by the cost model costs what ``V`` says up to
the association of one addition per layer.
"""

from __future__ import annotations

import numpy as np

from offbench._numba import jit
from offbench.cost import job_cost, job_walk


@jit
def backward(step_c, step_t, end_c, end_t, ops, l0, L, i, lam_e, lam_c, tw, V, arg, full):
    """Backward Viterbi over job ``i`` (layers ``l0 .. l0 + L - 1``).

    Fills, for ``p < L`` and tier ``k`` (the completion after layer ``p`` on tier ``k``: the later
    layers, the transfers out of ``p`` onwards and the way home):

    * ``V[0, p, k]``: the least *priced* linear cost, ``lam_e`` per op on the edge and
      ``lam_c`` per op on the cloud added for the later layers (``0, 0``: the linear cost);

    and, when ``full``:

    * ``V[1, p, k]``: the least time; ``V[2, p, k]``: the greatest time;
    * ``V[3, p, k]``: the least priced linear cost + ``tw`` * time.

    ``arg[q, p, k]`` is the tier of layer ``p + 1`` on the best completion of ``V[q]`` (the lowest
    tier on ties; 0 at ``p = L - 1``, the device that receives the result).
    """
    for k in range(3):
        c = end_c[i, k]
        V[0, L - 1, k] = c
        arg[0, L - 1, k] = 0
        if full:
            tt = end_t[i, k]
            V[1, L - 1, k] = tt
            V[2, L - 1, k] = tt
            V[3, L - 1, k] = c + tw * tt
            arg[1, L - 1, k] = 0
            arg[2, L - 1, k] = 0
            arg[3, L - 1, k] = 0
    for p in range(L - 2, -1, -1):
        l = l0 + p + 1                    # the next layer
        o = ops[l]
        for k in range(3):
            cmin = 0.0
            tmin = 0.0
            tmax = 0.0
            wmin = 0.0
            a0 = -1
            a1 = -1
            a2 = -1
            a3 = -1
            for k2 in range(3):
                j = 3 * k + k2
                sc = step_c[l, j]
                if k2 == 1:
                    sc = sc + lam_e * o
                elif k2 == 2:
                    sc = sc + lam_c * o
                v0 = sc + V[0, p + 1, k2]
                if a0 < 0 or v0 < cmin:
                    cmin = v0
                    a0 = k2
                if full:
                    st = step_t[l, j]
                    v1 = st + V[1, p + 1, k2]
                    v2 = st + V[2, p + 1, k2]
                    v3 = sc + tw * st + V[3, p + 1, k2]
                    if a1 < 0 or v1 < tmin:
                        tmin = v1
                        a1 = k2
                    if a2 < 0 or v2 > tmax:
                        tmax = v2
                        a2 = k2
                    if a3 < 0 or v3 < wmin:
                        wmin = v3
                        a3 = k2
            V[0, p, k] = cmin
            arg[0, p, k] = a0
            if full:
                V[1, p, k] = tmin
                V[2, p, k] = tmax
                V[3, p, k] = wmin
                arg[1, p, k] = a1
                arg[2, p, k] = a2
                arg[3, p, k] = a3


@jit
def start(step_c, step_t, l0, wc, wt, V):
    """First tier of the least-weight path of the job starting at layer ``l0`` (weight ``wc`` *
    linear cost + ``wt`` * time per step, ``V`` the completions for that weight, one of
    :func:`backward`'s); the lowest tier on ties."""
    best = 0.0
    bk = -1
    for k in range(3):
        v = wc * step_c[l0, k] + wt * step_t[l0, k] + V[0, k]
        if bk < 0 or v < best:
            best = v
            bk = k
    return bk


@jit
def follow(l0, L, k0, arg, x):
    """Write the path that starts on tier ``k0`` and follows ``arg`` (one of :func:`backward`'s)
    into ``x[l0 .. l0 + L - 1]``."""
    k = k0
    for p in range(L):
        x[l0 + p] = k
        k = arg[p, k]


# ------------------------------------------------------------------------------ one job, exactly
#: Initial sizes of the label buffers of the deadline DP (all labels of one job; candidates of
#: one state); they grow by doubling when a job needs more.
LABELS_START = 4096
CANDIDATES_START = 1024


# ------------------------------------------------------------------------------ per-job kernels
@jit
def viterbi(t, i, tw, V, arg, full):
    """:func:`offbench_solvers._chain.backward` over job ``i``, unpriced (``V[0]`` least linear
    cost; with ``full`` also least / greatest time and least linear cost + ``tw`` * time)."""
    lo = t.offsets[i]
    backward(t.step_c, t.step_t, t.end_c, t.end_t, t.ops, lo, t.offsets[i + 1] - lo, i, 0.0, 0.0,
             tw, V, arg, full)


@jit
def best_path(t, i, wc, wt, V, arg, x):
    """Write job ``i``'s least-weight path (``V``/``arg`` for that weight) into ``x``."""
    lo = t.offsets[i]
    k0 = start(t.step_c, t.step_t, lo, wc, wt, V)
    follow(lo, t.offsets[i + 1] - lo, k0, arg, x)


@jit
def _sort2(u, v, order, tmp, m):
    """``order[:m]`` = indices ``0..m-1`` sorted by ``(u, v, index)``: a bottom-up merge sort
    that allocates nothing (``tmp`` is scratch of the same size)."""
    for q in range(m):
        order[q] = q
    width = 1
    src = order
    dst = tmp
    in_tmp = False
    while width < m:
        lo = 0
        while lo < m:
            mid = min(lo + width, m)
            hi = min(lo + 2 * width, m)
            a = lo
            b = mid
            for q in range(lo, hi):
                if a < mid and (b >= hi or u[src[a]] < u[src[b]]
                                or (u[src[a]] == u[src[b]] and v[src[a]] <= v[src[b]])):
                    dst[q] = src[a]
                    a += 1
                else:
                    dst[q] = src[b]
                    b += 1
            lo = hi
        src, dst = dst, src
        in_tmp = not in_tmp
        width *= 2
    if in_tmp:
        for q in range(m):
            order[q] = tmp[q]


@jit
def _pareto(t, i, UB, Cmin, Tmin, Tmax, lC, lT, lpar, ltier, flo, fhi, cu, cv, cC, cT, cpar,
            order, otmp, x):
    """Exact label-setting DP of job ``i`` with a deadline (see the module docstring).

    ``lC, lT, lpar, ltier`` hold the labels of all states (flat; ``flo[p, k]:fhi[p, k]`` is the
    front of state ``(p, k)``); ``cu, cv, cC, cT, cpar, order, otmp`` are scratch for the
    candidates of one state. Returns ``(best, n_labels)``: the least final cost found (``inf``
    if every label was pruned, when the upper bound is optimal) with the path written into
    ``x``; or ``(nan, s)`` when a buffer is too small: ``s > 0`` labels needed, ``-s``
    candidates needed.
    """
    lo = t.offsets[i]
    L = t.offsets[i + 1] - lo
    tw = t.job_tw[i]
    d = t.job_dl[i]
    cap = lC.size
    ccap = cu.size
    limit = UB + 1e-12 * abs(UB)          # prune only what is strictly worse than the bound
    n = 0
    for p in range(L):
        l = lo + p
        for k in range(3):
            m = 0
            np_prev = 1 if p == 0 else 3
            for kp in range(np_prev):
                if p == 0:
                    a0 = 0
                    a1 = 1
                else:
                    a0 = flo[p - 1, kp]
                    a1 = fhi[p - 1, kp]
                j = 3 * kp + k
                dc = t.step_c[l, j]
                dt = t.step_t[l, j]
                for s in range(a0, a1):
                    if p == 0:
                        C = dc
                        T = dt
                        par = -1
                    else:
                        C = lC[s] + dc
                        T = lT[s] + dt
                        par = s
                    # lower bound on any completion of this label
                    if job_cost(t, i, C + Cmin[p, k], T + Tmin[p, k]) > limit:
                        continue
                    if m >= ccap:
                        return np.nan, -2 * ccap
                    Tc = max(T, d - Tmax[p, k])
                    cu[m] = C
                    cv[m] = C + tw * Tc
                    cC[m] = C
                    cT[m] = T
                    cpar[m] = par
                    m += 1
            flo[p, k] = n
            _sort2(cu, cv, order, otmp, m)
            vmin = np.inf
            for q in range(m):
                # sorted by (u, v): the first of a run of equal u has the least v, so a label
                # survives exactly when no other has u <= its u and v <= its v
                r = order[q]
                if cv[r] < vmin:
                    vmin = cv[r]
                    if n >= cap:
                        return np.nan, 2 * cap
                    lC[n] = cC[r]
                    lT[n] = cT[r]
                    lpar[n] = cpar[r]
                    ltier[n] = k
                    n += 1
            fhi[p, k] = n
    # close the chain: the result goes back to the device
    best = np.inf
    bs = -1
    for k in range(3):
        for s in range(flo[L - 1, k], fhi[L - 1, k]):
            f = job_cost(t, i, lC[s] + t.end_c[i, k], lT[s] + t.end_t[i, k])
            if f < best:
                best = f
                bs = s
    if bs >= 0:
        s = bs
        for p in range(L - 1, -1, -1):
            x[lo + p] = ltier[s]
            s = lpar[s]
    return best, n


@jit
def solve_job(t, i, x, V, arg, bufs, scratch):
    """Solve job ``i`` exactly into ``x``; returns ``(cost, labels)`` or ``(nan, needed)``."""
    tw = t.job_tw[i]
    lo = t.offsets[i]
    L = t.offsets[i + 1] - lo
    # least linear cost: optimal by itself when the job cannot be tardy at a cost
    viterbi(t, i, tw, V, arg, False)
    best_path(t, i, 1.0, 0.0, V[0], arg[0], x)
    C, T = job_walk(t, i, x)
    if tw <= 0.0:
        return C, 0
    d = t.job_dl[i]
    best = job_cost(t, i, C, T)
    if T <= d:
        return best, 0                    # on time at the least linear cost: nothing beats it
    Cmin = V[0]
    # least time, greatest time, least C + tw * T: bounds and two more priced candidates
    viterbi(t, i, tw, V, arg, True)
    y = scratch[0]
    for c in (1, 3):
        best_path(t, i, 1.0 if c == 3 else 0.0, tw if c == 3 else 1.0, V[c], arg[c], y)
        Cc, Tc = job_walk(t, i, y)
        f = job_cost(t, i, Cc, Tc)
        if f < best:
            best = f
            for l in range(lo, lo + L):
                x[l] = y[l]
    lC, lT, lpar, ltier, flo, fhi, cu, cv, cC, cT, cpar, order, otmp = bufs
    f, nl = _pareto(t, i, best, Cmin, V[1], V[2], lC, lT, lpar, ltier, flo, fhi, cu, cv, cC, cT,
                    cpar, order, otmp, y)
    if np.isnan(f):
        return f, nl
    if f < best:
        best = f
        for l in range(lo, lo + L):
            x[l] = y[l]
    return best, nl


@jit
def alloc(Lmax, n_labels, n_cand, n_layers):
    V = np.empty((4, Lmax, 3))
    arg = np.empty((4, Lmax, 3), dtype=np.int8)
    bufs = (np.empty(n_labels), np.empty(n_labels), np.empty(n_labels, dtype=np.int64),
            np.empty(n_labels, dtype=np.int8), np.empty((Lmax, 3), dtype=np.int64),
            np.empty((Lmax, 3), dtype=np.int64), np.empty(n_cand), np.empty(n_cand),
            np.empty(n_cand), np.empty(n_cand), np.empty(n_cand, dtype=np.int64),
            np.empty(n_cand, dtype=np.int64), np.empty(n_cand, dtype=np.int64))
    scratch = np.empty((1, n_layers), dtype=np.int8)
    return V, arg, bufs, scratch


@jit
def solve_jobs(t, j0, j1, x, job_best, job_labels, Lmax, labels_start, cand_start):
    """Solve jobs ``j0 .. j1 - 1`` into ``x``. A job whose labels outgrow the buffers is solved
    again with buffers twice as large. Returns the total number of labels made."""
    n_labels = labels_start
    n_cand = cand_start
    V, arg, bufs, scratch = alloc(Lmax, n_labels, n_cand, x.size)
    total = 0
    for i in range(j0, j1):
        while True:
            f, nl = solve_job(t, i, x, V, arg, bufs, scratch)
            if not np.isnan(f):
                job_best[i] = f
                job_labels[i] = nl
                total += nl
                break
            if nl > 0:
                n_labels = max(2 * n_labels, nl)
            else:
                n_cand = max(2 * n_cand, -nl)
            V, arg, bufs, scratch = alloc(Lmax, n_labels, n_cand, x.size)
    return total


def priced_tables(t, lam_e: float, lam_c: float):
    """The cost tables with ``lam_e`` per op added to every step onto the edge and ``lam_c`` per
    op to every step onto the cloud: the linear cost of a job's path on them is its linear cost
    plus ``lam . loads``, the Lagrangian price of the path formulation.

    A step onto a tier whose capacity the layer's ops alone exceed (:func:`~offbench.cost.fits`
    false on them: a tier switched off, or a capacity below the layer) costs ``inf``: a tier's
    load is a float sum of non-negative ops, which never falls below one of its terms, so no
    feasible decision takes that step, and the Lagrangian subproblem without it is still a
    relaxation (and as strong as the transition model, which fixes those placements to 0)."""
    over_e = ~(t.ops <= t.cap[1])
    over_c = ~(t.ops <= t.cap[2])
    if lam_e == 0.0 and lam_c == 0.0 and not over_e.any() and not over_c.any():
        return t
    add = np.zeros((t.ops.size, 9))
    for a in range(3):
        add[:, 3 * a + 1] = np.where(over_e, np.inf, lam_e * t.ops)
        add[:, 3 * a + 2] = np.where(over_c, np.inf, lam_c * t.ops)
    step = t.step_c + add
    step.setflags(write=False)          # the same Numba type as the cost tables: no recompiling
    return t._replace(step_c=step)
