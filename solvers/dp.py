"""Dynamic programming: exact when the jobs do not compete for capacity.

Without capacities the jobs are independent (SPEC.md section 2) and each one is solved alone:

* **No deadline** (or no tardiness weight): the job's cost is a sum of per-layer compute terms and
  per-boundary transfer terms (the fused ``step_c``/``end_c`` tables of :mod:`offbench.cost`: a
  layer's compute plus the transfer into it, given the previous layer's tier), i.e.
  a shortest path through a layered graph of three tiers, from the device back to the device.
  Viterbi (a backward pass over ``L x 3`` states with 9 transitions each) solves it exactly.
* **With a deadline** the cost is ``C(x) + tw * max(0, T(x) - d)``, where ``C`` is the linear part
  and ``T`` the job's time. This is not a shortest path (it is not additive), so the job is solved
  by an exact label-setting DP over the Pareto labels ``(C, T)`` of each state ``(layer, tier)``.
  A label ``(C1, T1)`` *dominates* ``(C2, T2)`` in the same state when ``C1 <= C2`` and
  ``C1 + tw * T1' <= C2 + tw * T2'``, with ``T' = max(T, d - rmax)`` and ``rmax`` the longest
  time any completion from that state can add. Proof that dropping a dominated label is safe:
  fix any completion (cost ``c``, time ``r <= rmax``); with ``h(s) = max(0, s + r - d)`` (for
  which replacing ``T`` by ``T'`` changes nothing, both being 0 below ``d - rmax``) the two final
  costs are ``C_i + c + tw * h(T_i')``; ``h`` is non-decreasing and 1-Lipschitz, so if
  ``T1' <= T2'`` the difference is ``<= C1 - C2 <= 0``, and otherwise it is
  ``<= (C1 + tw T1') - (C2 + tw T2') <= 0``. Labels whose lower bound (``C`` plus the cheapest
  completion, plus the tardiness of the fastest completion) exceeds a known upper bound are
  dropped too. The upper bound and a fallback come from three Viterbi paths (least ``C``, least
  ``T``, least ``C + tw * T``), each priced exactly; the answer is the cheapest of the label DP's
  best and those three, so rounding in a bound can never lose the optimum.

Capacities. When both capacities can hold every op of the instance, they can never bind and the
jobs are still independent. Otherwise the jobs are solved without capacities (a relaxation): if
that optimum happens to fit the capacities it is optimal for the real problem too (it is feasible,
and no feasible decision can beat the relaxation's optimum); if it does not fit, dp refuses
(status ``error``) rather than answer wrongly: the jobs are coupled and the problem is a knapsack
(use milp or exhaustive). :func:`solve_uncoupled` gives that relaxation to callers that want it
as a lower bound.

Ties are broken toward the lower tier (device before edge before cloud), deterministically.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from offbench._numba import jit
from offbench.cost import fits, job_cost, job_walk, tables, tier_can_bind, tier_loads
from offbench.solver import Proposal, Solver, Unsupported

from ._chain import backward, follow, start

#: Initial sizes of the label buffers of the deadline DP (all labels of one job; candidates of
#: one state); they grow by doubling when a job needs more.
LABELS_START = 4096
CANDIDATES_START = 1024
#: Jobs per kernel call; the clock is checked between calls.
JOBS_PER_CALL = 1 << 14


# ------------------------------------------------------------------------------ per-job kernels
@jit
def _viterbi(t, i, tw, V, arg, full):
    """:func:`offbench_solvers._chain.backward` over job ``i``, unpriced (``V[0]`` least linear
    cost; with ``full`` also least / greatest time and least linear cost + ``tw`` * time)."""
    lo = t.offsets[i]
    backward(t.step_c, t.step_t, t.end_c, t.end_t, t.ops, lo, t.offsets[i + 1] - lo, i, 0.0, 0.0,
             tw, V, arg, full)


@jit
def _path(t, i, wc, wt, V, arg, x):
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
def _solve_job(t, i, x, V, arg, bufs, scratch):
    """Solve job ``i`` exactly into ``x``; returns ``(cost, labels)`` or ``(nan, needed)``."""
    tw = t.job_tw[i]
    lo = t.offsets[i]
    L = t.offsets[i + 1] - lo
    # least linear cost: optimal by itself when the job cannot be tardy at a cost
    _viterbi(t, i, tw, V, arg, False)
    _path(t, i, 1.0, 0.0, V[0], arg[0], x)
    C, T = job_walk(t, i, x)
    if tw <= 0.0:
        return C, 0
    d = t.job_dl[i]
    best = job_cost(t, i, C, T)
    if T <= d:
        return best, 0                    # on time at the least linear cost: nothing beats it
    Cmin = V[0]
    # least time, greatest time, least C + tw * T: bounds and two more priced candidates
    _viterbi(t, i, tw, V, arg, True)
    y = scratch[0]
    for c in (1, 3):
        _path(t, i, 1.0 if c == 3 else 0.0, tw if c == 3 else 1.0, V[c], arg[c], y)
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
def _alloc(Lmax, n_labels, n_cand, n_layers):
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
def _solve_jobs(t, j0, j1, x, job_best, job_labels, Lmax, labels_start, cand_start):
    """Solve jobs ``j0 .. j1 - 1`` into ``x``. A job whose labels outgrow the buffers is solved
    again with buffers twice as large. Returns the total number of labels made."""
    n_labels = labels_start
    n_cand = cand_start
    V, arg, bufs, scratch = _alloc(Lmax, n_labels, n_cand, x.size)
    total = 0
    for i in range(j0, j1):
        while True:
            f, nl = _solve_job(t, i, x, V, arg, bufs, scratch)
            if not np.isnan(f):
                job_best[i] = f
                job_labels[i] = nl
                total += nl
                break
            if nl > 0:
                n_labels = max(2 * n_labels, nl)
            else:
                n_cand = max(2 * n_cand, -nl)
            V, arg, bufs, scratch = _alloc(Lmax, n_labels, n_cand, x.size)
    return total


# ------------------------------------------------------------------------------ public function
class Uncoupled(NamedTuple):
    """The optimum of an instance with its capacities removed (see :func:`solve_uncoupled`)."""

    decision: np.ndarray     # int8 (n_layers,)
    cost: float              # sum of the exact per-job optima
    complete: bool           # False when the time limit stopped it (then not an optimum)
    jobs_solved: int
    labels: int              # Pareto labels made by the deadline DP (0 without deadlines)
    edge_load: float
    cloud_load: float


def solve_uncoupled(inst, *, deadline: float | None = None) -> Uncoupled:
    """Solve every job alone, ignoring capacities: exact per job (see the module docstring).

    Parameters
    ----------
    inst : Instance
    deadline : float, optional
        A ``time.perf_counter()`` value after which no further batch of jobs is started; the
        jobs left unsolved get their least-linear-cost path and ``complete`` is False.

    Returns
    -------
    Uncoupled
        With ``complete``, ``cost`` is the optimum without capacities: a proven lower bound on
        the optimum of the instance with its capacities.
    """
    import time

    t = tables(inst)
    nj = inst.n_jobs
    x = np.zeros(inst.n_layers, dtype=np.int8)
    job_best = np.full(nj, np.nan)
    job_labels = np.zeros(nj, dtype=np.int64)
    Lmax = int(inst.layers_per_job.max())
    labels = 0
    j = 0
    while j < nj:
        if deadline is not None and j > 0 and time.perf_counter() >= deadline:
            break
        j1 = min(nj, j + JOBS_PER_CALL)
        labels += _solve_jobs(t, j, j1, x, job_best, job_labels, Lmax, LABELS_START,
                              CANDIDATES_START)
        j = j1
    complete = j >= nj
    if not complete:
        _least_linear(t, j, nj, x)
    _, le, lc = tier_loads(t.ops, x)
    cost = float(math.fsum(job_best[:j])) if complete else math.nan
    return Uncoupled(x, cost, complete, j, int(labels), float(le), float(lc))


@jit
def _least_linear(t, j0, j1, x):
    Lmax = 1
    for i in range(j0, j1):
        Lmax = max(Lmax, t.offsets[i + 1] - t.offsets[i])
    V = np.empty((4, Lmax, 3))
    arg = np.empty((4, Lmax, 3), dtype=np.int8)
    for i in range(j0, j1):
        _viterbi(t, i, 0.0, V, arg, False)
        _path(t, i, 1.0, 0.0, V[0], arg[0], x)


# ------------------------------------------------------------------------------ the solver
class DP(Solver):
    """Per-job dynamic programming (Viterbi, Pareto labels with deadlines); exact, refuses coupled.

    Exact when capacities do not bind (see the module docstring for the method and the proof
    of exactness). On an instance whose capacities bind (the per-job optima together do not
    fit) it returns status ``error`` with the reason, never a decision it cannot prove optimal.
    """

    name = "dp"
    version = 1
    guarantee = "exact"
    params = ()
    reference_role = "exact"
    reference_rank = 10

    @classmethod
    def exact_for(cls, inst):
        """Always asked: it proves an optimum, or refuses (cheaply) when capacities bind."""
        return True

    @classmethod
    def lower_bound(cls, inst, deadline=None):
        """The capacity-free optimum (:func:`solve_uncoupled`), when it finishes in time."""
        relax = solve_uncoupled(inst, deadline=deadline)
        return relax.cost if relax.complete else None

    def _solve(self, inst, ctx):
        import time

        t = tables(inst)
        binding = [nm for nm, k in (("edge", 1), ("cloud", 2)) if tier_can_bind(t, k)]
        left = ctx.time_left()
        deadline = None if math.isinf(left) else time.perf_counter() + left
        res = solve_uncoupled(inst, deadline=deadline)
        info = {"labels": res.labels, "jobs_solved": res.jobs_solved}
        if not res.complete:
            info["note"] = ("time limit: jobs after the first "
                            f"{res.jobs_solved} take their least-linear-cost path")
            return Proposal(res.decision, status="timeout", info=info)
        if binding:
            over = []
            if not fits(res.edge_load, t.cap[1]):
                over.append(f"edge load {res.edge_load:.6g} > capacity {inst.edge_capacity:.6g}")
            if not fits(res.cloud_load, t.cap[2]):
                over.append(f"cloud load {res.cloud_load:.6g} > capacity {inst.cloud_capacity:.6g}")
            if over:
                raise Unsupported(
                    f"the instance has {' and '.join(binding)} capacities that couple the jobs "
                    f"(the per-job optima need {'; '.join(over)}); dp is exact only when "
                    "capacities do not bind; use milp or exhaustive")
            info["note"] = ("capacities bind in general, but the per-job optima fit them, so "
                            "they are optimal")
        return Proposal(res.decision, status="optimal", objective=res.cost, info=info)
