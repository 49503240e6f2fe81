"""Model-building pieces shared by the ``milp`` and ``lp-bound`` solvers.

Everything here is built from the coefficient tables of :func:`offbench.cost.tables` (the one
cost model); nothing re-derives SPEC.md. Notation: for job ``i`` with layers ``l0..l0+L-1`` and
boundaries ``b0..b0+L`` (``b0 = l0 + i``), a *path* is the job's tier vector ``x[0..L-1]``; its

* linear cost  ``lin  = sum comp_c[l, x_l] + sum tr_c[b, 3 x_{b-1} + x_b]`` (with device ends),
* time         ``T    = the same sum over comp_t / tr_t``,
* cost         ``cost = lin + job_tw[i] * max(0, T - job_dl[i])``,
* loads        ``e = sum of ops on the edge``, ``c = sum of ops on the cloud``.

A decision's cost is the sum of its jobs' path costs; it is feasible when the summed loads fit the
capacities (``tables(inst).cap``, tolerance included).

The path formulation
--------------------
The problem is a multiple-choice knapsack over paths: pick one path per job, two capacity rows.
Any optimal solution stays optimal when a job's path is swapped for one with no larger edge
load, cloud load and cost, so only *Pareto-optimal* paths over ``(e, c, cost)`` matter.
:func:`job_paths` enumerates them by label setting over the layers (a label per partial path:
loads, linear cost, time). A label is dropped when another one ending on the same tier has no
larger loads and is no worse under *every* completion; with tardiness the comparison uses the
range ``[dmin, dmax]`` of the remaining time from that state, so a job that can never be late
(or is always late) needs no time dimension at all.

Lagrangian reduction
--------------------
For multipliers ``lam >= 0`` on the capacity rows, the *priced* cost of a path is
``cost + lam_e e + lam_c c`` and ``mu_i(lam)`` is its minimum over job ``i``'s paths (a shortest
path with tardiness, :func:`price`). Then

    L(lam) = sum_i mu_i(lam) - lam_e cap_e - lam_c cap_c

is a lower bound on the optimum (weak duality), computed by us in floating point with no solver
tolerance involved: a *certified* bound. Its maximum over ``lam`` equals the LP relaxation of the
path formulation (the per-job convex hulls), which :func:`column_generation` reaches with a
restricted master LP (any LP solver, passed in) and :func:`price` as the pricing problem.

Any feasible decision ``x`` satisfies
``cost(x) >= L(lam) + sum_i (priced(x_i) - mu_i(lam))`` with every summand ``>= 0``, so given an
incumbent of cost ``UB``, a path whose reduced cost ``priced - mu_i`` exceeds ``UB - L(lam)``
is in no decision better than the incumbent: :func:`job_paths` drops it (and every partial path
whose completion bound already exceeds it). What is left contains an optimal decision, so a
MILP over it is exact. The same bound fixes placements: :func:`placement_reduced_costs` gives,
for each layer and tier, the least reduced cost of a path through it.

How small "what is left" is depends on the gap ``UB - L(lam)``, and the path formulation's LP
gap on coupled instances is not always small (0 to 4 % on random instances of 10-20 jobs x 10
layers with deadlines: a few large layers decide which jobs fit). A job can then keep thousands
of near-equal paths (small layers placed differently), and branch-and-bound on one binary per
path is slow: HiGHS did not prove in 60 s a 2,460-path model that the transition model with
fixings proves in 10 s. Hence ``milp`` uses paths only when few remain.

The transition formulation
--------------------------
The textbook model: placement binaries ``z[l, k]``, transition variables ``w[b, a, c]`` between
consecutive layers (flow conservation makes the chain's transfer costs linear), tardiness
``U_i >= T_i - d_i`` as an epigraph, capacities as knapsack rows (:func:`transition_model`). Its LP
is weaker (fractional "split" paths make tardiness look cheap: up to 6.5 % below the path LP on
20 x 10 instances), but with the Lagrangian fixings it is nearly as strong and branching on
placements is effective.

Scaling: capacity rows are divided by their capacity (:class:`Capacities`), tardiness rows by
the job's longest time, and the objective by a caller's unit (the incumbent's cost in ``milp``;
:func:`objective_scale`, the all-device cost, by default), so that coefficients are O(1); every
returned decision is priced again by the cost model.

Heuristic pieces: :func:`repair_and_improve` (single-layer moves by the cost model's O(1)
kernel), :func:`cheapest_paths` and :func:`lambda_grid_paths` (candidate paths for a restricted
MILP), :func:`safe_dual_bound` (a valid bound from any LP multipliers).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.sparse as sp

from offbench._numba import jit
from offbench.cost import all_device_cost, apply_move, move_delta, tables, job_times

#: Relative slack added to the reduced-cost threshold, so float rounding never drops a path
#: that an exact computation would keep.
THRESHOLD_RTOL = 1e-9


# ------------------------------------------------------------------------------ label setting
@jit
def _tard(T, dl):
    return T - dl if T > dl else 0.0


@jit
def _dominates(a, b, E, C, D, T, use_e, use_c, tw, dl, dmin, dmax):
    """Whether label ``a`` is no worse than label ``b`` under every completion."""
    if use_e and E[a] > E[b]:
        return False
    if use_c and C[a] > C[b]:
        return False
    if tw > 0.0:
        # max over completion times dT in [dmin, dmax] of the tardiness difference: the
        # difference is non-increasing in dT when T[a] <= T[b], non-decreasing otherwise.
        if T[a] <= T[b]:
            g = _tard(T[a] + dmin, dl) - _tard(T[b] + dmin, dl)
        else:
            g = _tard(T[a] + dmax, dl) - _tard(T[b] + dmax, dl)
        return D[a] + tw * g <= D[b]
    return D[a] <= D[b]


@jit
def _pareto(E, C, D, T, n, use_e, use_c, tw, dl, dmin, dmax):
    """Indices of the labels ``0..n-1`` that no other label dominates (one of equal twins).

    Labels are visited by a key that a dominating label never exceeds (its cost under the
    shortest completion), so only earlier labels can dominate later ones, except on equal keys,
    which are checked both ways.
    """
    key = np.empty(n)
    for q in range(n):
        key[q] = D[q] + tw * _tard(T[q] + dmin, dl)
    order = np.argsort(key, kind="mergesort")
    kept = np.empty(n, np.int64)
    alive = np.ones(n, np.bool_)
    nk = 0
    for oi in range(n):
        b = order[oi]
        dominated = False
        for q in range(nk - 1, -1, -1):
            a = kept[q]
            if not alive[a]:
                continue
            if _dominates(a, b, E, C, D, T, use_e, use_c, tw, dl, dmin, dmax):
                dominated = True
                break
            if key[a] == key[b] and _dominates(b, a, E, C, D, T, use_e, use_c, tw, dl, dmin, dmax):
                alive[a] = False
        if not dominated:
            kept[nk] = b
            nk += 1
    out = np.empty(nk, np.int64)
    m = 0
    for q in range(nk):
        if alive[kept[q]]:
            out[m] = kept[q]
            m += 1
    return out[:m]


@jit
def _remaining(comp_c, comp_t, tr_c, tr_t, ops, l0, L, b0, lam_e, lam_c):
    """Per (layer j done, tier k): min remaining priced linear cost, min and max remaining
    time (through the return to the device)."""
    rc = np.zeros((L, 3))
    rmin = np.zeros((L, 3))
    rmax = np.zeros((L, 3))
    for k in range(3):
        rc[L - 1, k] = tr_c[b0 + L, 3 * k]
        rmin[L - 1, k] = tr_t[b0 + L, 3 * k]
        rmax[L - 1, k] = tr_t[b0 + L, 3 * k]
    for j in range(L - 2, -1, -1):
        l = l0 + j + 1
        for k in range(3):
            c_lo = np.inf
            t_lo = np.inf
            t_hi = -np.inf
            for k2 in range(3):
                lam = lam_e * ops[l] if k2 == 1 else (lam_c * ops[l] if k2 == 2 else 0.0)
                v = tr_c[b0 + j + 1, 3 * k + k2] + comp_c[l, k2] + lam + rc[j + 1, k2]
                c_lo = min(c_lo, v)
                t = tr_t[b0 + j + 1, 3 * k + k2] + comp_t[l, k2]
                t_lo = min(t_lo, t + rmin[j + 1, k2])
                t_hi = max(t_hi, t + rmax[j + 1, k2])
            rc[j, k] = c_lo
            rmin[j, k] = t_lo
            rmax[j, k] = t_hi
    return rc, rmin, rmax


@jit
def _job_labels(comp_c, comp_t, tr_c, tr_t, ops, l0, L, b0, tw, dl, cap_e, cap_c,
                use_e, use_c, lam_e, lam_c, thr, max_labels):
    """Label setting over one job's layers (see the module docstring).

    ``use_e``/``use_c``: keep the edge/cloud load as a dimension of the labels (otherwise it is
    folded into the compared cost with its multiplier). Labels over a capacity, or whose priced
    completion bound exceeds ``thr``, are dropped. Returns ``(ok, paths, e, c, cost, T, peak)``:
    ``ok`` is False when some (layer, tier) held more than ``max_labels`` labels.
    """
    rc, rmin, rmax = _remaining(comp_c, comp_t, tr_c, tr_t, ops, l0, L, b0, lam_e, lam_c)
    fe = 0.0 if use_e else lam_e
    fc = 0.0 if use_c else lam_c
    size = 256
    S_e = np.empty(size)
    S_c = np.empty(size)
    S_lin = np.empty(size)
    S_T = np.empty(size)
    S_par = np.empty(size, np.int64)
    S_k = np.empty(size, np.int8)
    n = 0
    front = np.zeros(1, np.int64)
    peak = 0
    for j in range(L):
        l = l0 + j
        b = b0 + j
        nf = front.size
        parts = []
        for k in range(3):
            ce = np.empty(nf)
            cc = np.empty(nf)
            cl = np.empty(nf)
            cd = np.empty(nf)
            cT = np.empty(nf)
            cp = np.empty(nf, np.int64)
            m = 0
            for q in range(nf):
                if j == 0:
                    pe = 0.0
                    pc = 0.0
                    pl = 0.0
                    pT = 0.0
                    pk = 0
                    par = -1
                else:
                    par = front[q]
                    pe = S_e[par]
                    pc = S_c[par]
                    pl = S_lin[par]
                    pT = S_T[par]
                    pk = S_k[par]
                ne = pe + ops[l] if k == 1 else pe
                nc = pc + ops[l] if k == 2 else pc
                if ne > cap_e or nc > cap_c:
                    continue
                nl = pl + tr_c[b, 3 * pk + k] + comp_c[l, k]
                nT = pT + tr_t[b, 3 * pk + k] + comp_t[l, k]
                bound = nl + lam_e * ne + lam_c * nc + rc[j, k] + tw * _tard(nT + rmin[j, k], dl)
                if bound > thr:
                    continue
                ce[m] = ne
                cc[m] = nc
                cl[m] = nl
                cd[m] = nl + fe * ne + fc * nc
                cT[m] = nT
                cp[m] = par
                m += 1
            keep = _pareto(ce, cc, cd, cT, m, use_e, use_c, tw, dl, rmin[j, k], rmax[j, k])
            nk = keep.size
            if nk > peak:
                peak = nk
            if nk > max_labels:
                empty = np.empty(0)
                return False, np.empty((0, L), np.int8), empty, empty, empty, empty, peak
            while n + nk > size:
                size *= 2
                S_e = _grow(S_e, size)
                S_c = _grow(S_c, size)
                S_lin = _grow(S_lin, size)
                S_T = _grow(S_T, size)
                S_par = _grow_i(S_par, size)
                S_k = _grow_i8(S_k, size)
            idx = np.empty(nk, np.int64)
            for q in range(nk):
                s = keep[q]
                S_e[n] = ce[s]
                S_c[n] = cc[s]
                S_lin[n] = cl[s]
                S_T[n] = cT[s]
                S_par[n] = cp[s]
                S_k[n] = k
                idx[q] = n
                n += 1
            parts.append(idx)
        front = np.concatenate((parts[0], parts[1], parts[2]))
    # Return to the device, then the Pareto set over (e, c, cost).
    nf = front.size
    Fe = np.empty(nf)
    Fc = np.empty(nf)
    Fcost = np.empty(nf)
    Fd = np.empty(nf)
    FT = np.empty(nf)
    m = 0
    src = np.empty(nf, np.int64)
    for q in range(nf):
        s = front[q]
        k = S_k[s]
        T = S_T[s] + tr_t[b0 + L, 3 * k]
        cost = S_lin[s] + tr_c[b0 + L, 3 * k] + tw * _tard(T, dl)
        if cost + lam_e * S_e[s] + lam_c * S_c[s] > thr:
            continue
        Fe[m] = S_e[s]
        Fc[m] = S_c[s]
        Fcost[m] = cost
        Fd[m] = cost + fe * S_e[s] + fc * S_c[s]
        FT[m] = T
        src[m] = s
        m += 1
    keep = _pareto(Fe, Fc, Fd, FT, m, use_e, use_c, 0.0, 0.0, 0.0, 0.0)
    nk = keep.size
    paths = np.empty((nk, L), np.int8)
    oe = np.empty(nk)
    oc = np.empty(nk)
    ocost = np.empty(nk)
    oT = np.empty(nk)
    for q in range(nk):
        r = keep[q]
        oe[q] = Fe[r]
        oc[q] = Fc[r]
        ocost[q] = Fcost[r]
        oT[q] = FT[r]
        s = src[r]
        for j in range(L - 1, -1, -1):
            paths[q, j] = S_k[s]
            s = S_par[s]
    return True, paths, oe, oc, ocost, oT, peak


@jit
def _grow(a, size):
    out = np.empty(size)
    out[:a.size] = a
    return out


@jit
def _grow_i(a, size):
    out = np.empty(size, np.int64)
    out[:a.size] = a
    return out


@jit
def _grow_i8(a, size):
    out = np.empty(size, np.int8)
    out[:a.size] = a
    return out


# ------------------------------------------------------------------------------ path sets
@dataclass
class JobPaths:
    """The candidate paths of one job: ``tiers`` (n, L) int8, loads ``e``/``c`` (ops),
    ``cost`` (its share of the decision's cost) and ``time``."""

    tiers: np.ndarray
    e: np.ndarray
    c: np.ndarray
    cost: np.ndarray
    time: np.ndarray

    def __len__(self) -> int:
        return int(self.tiers.shape[0])


@dataclass
class Capacities:
    """Which capacity rows bind: ``active[k]`` for k = edge, cloud, with the capacity
    ``cap[k]`` (tolerance included); a row that no combination of paths can exceed is
    inactive. Scaled rows divide by ``row_scale[k]`` (the capacity, or the total ops when the
    capacity is 0)."""

    cap: np.ndarray        # (2,) edge, cloud (inf when none)
    active: np.ndarray     # (2,) bool
    row_scale: np.ndarray  # (2,) the unit of a scaled capacity row

    @classmethod
    def of(cls, inst) -> "Capacities":
        t = tables(inst)
        cap = np.array([t.cap[1], t.cap[2]])
        total = float(np.sum(t.ops))
        # Even everything on one tier fits: the row cannot bind.
        active = np.array([math.isfinite(cap[0]) and total > cap[0],
                           math.isfinite(cap[1]) and total > cap[1]])
        # Rows are written in units of their capacity; a zero capacity in units of the total.
        row_scale = np.array([c if (math.isfinite(c) and c > 0) else max(total, 1.0) for c in cap])
        return cls(cap, active, row_scale)


def _job_slices(t, i):
    l0 = int(t.offsets[i])
    L = int(t.offsets[i + 1]) - l0
    return l0, L, l0 + i


def job_paths(inst, i: int, *, lam=(0.0, 0.0), threshold: float = math.inf,
              max_labels: int = 100_000, caps: Capacities | None = None) -> JobPaths | None:
    """The Pareto-optimal paths of job ``i`` over (edge load, cloud load, cost), restricted to
    paths whose priced cost ``cost + lam . load`` is at most ``threshold`` and whose loads fit
    the capacities. Loads of inactive capacities are not a dimension.

    Returns None when a (layer, tier) state holds more than ``max_labels`` labels.
    """
    t = tables(inst)
    caps = caps or Capacities.of(inst)
    l0, L, b0 = _job_slices(t, i)
    ok, paths, e, c, cost, T, peak = _job_labels(
        t.comp_c, t.comp_t, t.tr_c, t.tr_t, t.ops, l0, L, b0, float(t.job_tw[i]),
        float(t.job_dl[i]), caps.cap[0], caps.cap[1], bool(caps.active[0]), bool(caps.active[1]),
        float(lam[0]) if caps.active[0] else 0.0, float(lam[1]) if caps.active[1] else 0.0,
        float(threshold), int(max_labels))
    if not ok:
        return None
    return JobPaths(paths, e, c, cost, T)


def price(inst, lam=(0.0, 0.0), caps: Capacities | None = None, max_labels: int = 100_000):
    """Lagrangian pricing: for each job, the path minimizing ``cost + lam_e e + lam_c c``.

    Returns ``(mu, best)``: ``mu`` (n_jobs,) the minima, ``best`` a list of :class:`JobPaths`
    with the minimizing path (one row). Returns None when a job's labels overflow
    ``max_labels``. Capacities are not imposed (a relaxation).
    """
    t = tables(inst)
    caps = caps or Capacities.of(inst)
    le = float(lam[0]) if caps.active[0] else 0.0
    lc = float(lam[1]) if caps.active[1] else 0.0
    mu = np.empty(inst.n_jobs)
    best = []
    for i in range(inst.n_jobs):
        l0, L, b0 = _job_slices(t, i)
        ok, paths, e, c, cost, T, peak = _job_labels(
            t.comp_c, t.comp_t, t.tr_c, t.tr_t, t.ops, l0, L, b0, float(t.job_tw[i]),
            float(t.job_dl[i]), math.inf, math.inf, False, False, le, lc, math.inf,
            int(max_labels))
        if not ok:
            return None
        priced = cost + le * e + lc * c
        r = int(np.argmin(priced))
        mu[i] = priced[r]
        best.append(JobPaths(paths[r:r + 1].copy(), e[r:r + 1].copy(), c[r:r + 1].copy(),
                             cost[r:r + 1].copy(), T[r:r + 1].copy()))
    return mu, best


def lagrangian_bound(mu: np.ndarray, lam, caps: Capacities) -> float:
    """``L(lam) = sum_i mu_i - lam . cap`` over the active rows, lowered by a bound on the
    floating-point rounding of the sums (so it is a lower bound, not an estimate)."""
    terms = [float(v) for v in mu]
    for k in range(2):
        if caps.active[k] and lam[k] > 0:
            terms.append(-float(lam[k]) * float(caps.cap[k]))
    val = math.fsum(terms)
    mag = math.fsum(abs(v) for v in terms)
    return val - 1e-12 * mag


def objective_scale(inst) -> float:
    """The unit of the scaled objective: the all-device cost (always feasible), or 1."""
    s = abs(all_device_cost(inst))
    return s if s > 0 and math.isfinite(s) else 1.0


# ------------------------------------------------------------------------------ path model
@dataclass
class PathModel:
    """The multiple-choice knapsack over candidate paths, as scaled arrays.

    Columns are the paths of every job in job order (``job_start[i]:job_start[i+1]``).
    Rows: one ``sum = 1`` per job, then the active capacity rows (scaled by the capacity).
    Objective: path cost divided by ``scale``; the original objective is
    ``scale * (c @ y)``.
    """

    jobs: list[JobPaths]
    caps: Capacities
    scale: float
    job_start: np.ndarray = field(init=False)
    cost: np.ndarray = field(init=False)
    e: np.ndarray = field(init=False)
    c: np.ndarray = field(init=False)

    def __post_init__(self):
        sizes = np.array([len(j) for j in self.jobs], dtype=np.int64)
        self.job_start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.cost = np.concatenate([j.cost for j in self.jobs])
        self.e = np.concatenate([j.e for j in self.jobs])
        self.c = np.concatenate([j.c for j in self.jobs])

    @property
    def n_columns(self) -> int:
        return int(self.job_start[-1])

    @property
    def n_jobs(self) -> int:
        return len(self.jobs)

    def job_of_column(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_jobs), np.diff(self.job_start))

    def arrays(self):
        """``(obj, A, row_lo, row_hi)``: scaled objective, CSR matrix, row bounds."""
        n = self.n_columns
        nj = self.n_jobs
        rows = [self.job_of_column()]
        cols = [np.arange(n)]
        vals = [np.ones(n)]
        lo = [np.ones(nj)]
        hi = [np.ones(nj)]
        r = nj
        for k, load in ((0, self.e), (1, self.c)):
            if not self.caps.active[k]:
                continue
            nz = np.nonzero(load)[0]
            rows.append(np.full(nz.size, r))
            cols.append(nz)
            vals.append(load[nz] / self.caps.row_scale[k])
            lo.append(np.array([-np.inf]))
            hi.append(np.array([self.caps.cap[k] / self.caps.row_scale[k]]))
            r += 1
        A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(r, n))
        return self.cost / self.scale, A, np.concatenate(lo), np.concatenate(hi)

    def decision(self, chosen: np.ndarray) -> np.ndarray:
        """The decision of one chosen column index per job."""
        return np.concatenate([self.jobs[i].tiers[int(chosen[i]) - int(self.job_start[i])]
                               for i in range(self.n_jobs)]).astype(np.int8)

    def choose(self, y: np.ndarray) -> np.ndarray:
        """One column per job from a (near-)integral solution vector: the largest entry."""
        out = np.empty(self.n_jobs, dtype=np.int64)
        for i in range(self.n_jobs):
            a, b = self.job_start[i], self.job_start[i + 1]
            out[i] = a + int(np.argmax(y[a:b]))
        return out

    def columns_of(self, x: np.ndarray) -> np.ndarray | None:
        """The column of each job's path in decision ``x``, or None if one is missing."""
        t_off = np.concatenate([[0], np.cumsum([j.tiers.shape[1] for j in self.jobs])])
        out = np.empty(self.n_jobs, dtype=np.int64)
        for i, jp in enumerate(self.jobs):
            seg = x[t_off[i]:t_off[i + 1]]
            hit = np.nonzero(np.all(jp.tiers == seg, axis=1))[0]
            if hit.size == 0:
                return None
            out[i] = self.job_start[i] + int(hit[0])
        return out


# ------------------------------------------------------------------------------ heuristics
@jit
def _repair(t, x, job_T, load, max_moves):
    """Move layers off over-full tiers until the decision fits, each time the move with the
    least cost increase per op freed that does not overfill its target. Returns moves tried."""
    tried = 0
    for _ in range(max_moves):
        over = -1
        for k in (1, 2):
            if load[k] > t.cap[k]:
                over = k
                break
        if over < 0:
            return tried
        best_l = -1
        best_k = -1
        best_r = np.inf
        for l in range(x.size):
            if x[l] != over or t.ops[l] <= 0.0:
                continue
            for k in range(3):
                if k == over or (k > 0 and load[k] + t.ops[l] > t.cap[k]):
                    continue
                d, dT = move_delta(t, x, l, k, job_T)
                tried += 1
                r = d / t.ops[l]
                if r < best_r:
                    best_r = r
                    best_l = l
                    best_k = k
        if best_l < 0:
            return tried
        apply_move(t, x, best_l, best_k, job_T, load)
    return tried


@jit
def _descend(t, x, job_T, load, max_passes):
    """First-improvement descent over single-layer moves that keep the decision feasible."""
    tried = 0
    for _ in range(max_passes):
        improved = False
        for l in range(x.size):
            for k in range(3):
                if k == x[l]:
                    continue
                if k > 0 and load[k] + t.ops[l] > t.cap[k]:
                    continue
                d, dT = move_delta(t, x, l, k, job_T)
                tried += 1
                if d < -1e-12 * (1.0 + abs(d)):
                    apply_move(t, x, l, k, job_T, load)
                    improved = True
        if not improved:
            break
    return tried


def repair_and_improve(inst, x: np.ndarray, *, passes: int = 50) -> tuple[np.ndarray, int]:
    """Make ``x`` feasible (greedy moves off over-full tiers) and improve it by feasible
    single-layer moves; returns the new decision and the move evaluations spent."""
    t = tables(inst)
    x = np.ascontiguousarray(x, dtype=np.int8).copy()
    job_T = np.empty(inst.n_jobs)
    job_times(t, x, job_T)
    load = np.zeros(3)
    np.add.at(load, x.astype(np.int64), t.ops)
    tried = _repair(t, x, job_T, load, x.size * 3 + 10)
    if load[1] > t.cap[1] or load[2] > t.cap[2]:
        x[:] = 0  # cannot happen (moving to the device always helps); the safe answer anyway
        job_times(t, x, job_T)
        load[:] = 0.0
        load[0] = float(np.sum(t.ops))
    tried += _descend(t, x, job_T, load, passes)
    return x, int(tried)


# ------------------------------------------------------------------------------ column generation
@dataclass
class CGResult:
    """Outcome of :func:`column_generation`.

    ``lam``: the multipliers (original units) of the best certified bound ``bound``;
    ``mu``: the per-job priced minima at ``lam``; ``model``: the restricted master's columns;
    ``y``: its last LP solution; ``lp_value``: its LP optimum (original units);
    ``converged``: pricing found no improving path (``bound`` is then the LP relaxation's
    value over all paths, up to the LP solver's tolerance).
    """

    lam: np.ndarray
    mu: np.ndarray
    bound: float
    model: PathModel
    y: np.ndarray
    lp_value: float
    converged: bool
    iterations: int
    history: list = field(default_factory=list)


LPSolve = Callable[[np.ndarray, sp.csr_matrix, np.ndarray, np.ndarray], tuple]
"""``lp(obj, A, row_lo, row_hi) -> (y, value, row_duals)`` for ``0 <= y <= 1``; row duals as
d(value)/d(rhs) (so a binding ``<=`` row of a minimization has a dual <= 0)."""


def column_generation(inst, lp: LPSolve, *, caps: Capacities | None = None,
                      max_iterations: int = 200, max_labels: int = 100_000,
                      deadline: float = math.inf, rtol: float = 1e-9) -> CGResult | None:
    """The LP relaxation of the path formulation by column generation.

    Starts from the all-device path and each job's unconstrained best path, then alternates
    the restricted master LP (``lp``) and exact pricing (:func:`price`) until pricing adds no
    new path, the LP value and the certified bound agree to ``rtol``, or ``deadline``
    (``time.perf_counter()`` value) passes. Returns None if pricing overflows ``max_labels``.
    """
    caps = caps or Capacities.of(inst)
    scale = objective_scale(inst)
    t = tables(inst)
    priced = price(inst, (0.0, 0.0), caps, max_labels)
    if priced is None:
        return None
    mu0, best0 = priced
    cols: list[list[tuple]] = []
    seen: list[set] = []
    for i in range(inst.n_jobs):
        l0, L, b0 = _job_slices(t, i)
        zero = np.zeros(L, dtype=np.int8)
        dev = _path_stats(t, i, zero)
        cols.append([dev])
        seen.append({zero.tobytes()})
        p = best0[i].tiers[0]
        if p.tobytes() not in seen[i]:
            cols[i].append(_path_stats(t, i, p))
            seen[i].add(p.tobytes())
    lam_best = np.zeros(2)
    mu_best = mu0
    bound_best = lagrangian_bound(mu0, (0.0, 0.0), caps)
    history = [bound_best]
    converged = False
    it = 0
    y = None
    value = math.nan
    model = None
    while True:
        model = _model_from_cols(cols, caps, scale)
        if not caps.active.any():
            # Uncapacitated: the best paths are optimal; nothing to price.
            y = np.zeros(model.n_columns)
            for i in range(inst.n_jobs):
                a = model.job_start[i]
                y[a + int(np.argmin(model.cost[a:model.job_start[i + 1]]))] = 1.0
            value = float(model.cost @ y)
            converged = True
            break
        obj, A, lo, hi = model.arrays()
        y, val_scaled, duals = lp(obj, A, lo, hi)
        value = val_scaled * scale
        lam = np.zeros(2)
        r = inst.n_jobs
        for k in range(2):
            if caps.active[k]:
                lam[k] = max(0.0, -float(duals[r])) * scale / caps.row_scale[k]
                r += 1
        it += 1
        priced = price(inst, lam, caps, max_labels)
        if priced is None:
            return None
        mu, best = priced
        bnd = lagrangian_bound(mu, lam, caps)
        history.append(bnd)
        if bnd > bound_best:
            bound_best, lam_best, mu_best = bnd, lam, mu
        added = 0
        for i in range(inst.n_jobs):
            p = best[i].tiers[0]
            if p.tobytes() not in seen[i]:
                seen[i].add(p.tobytes())
                cols[i].append(_path_stats(t, i, p))
                added += 1
        if added == 0 or value - bound_best <= rtol * max(abs(value), scale):
            converged = True
            break
        if it >= max_iterations or time.perf_counter() > deadline:
            break
    return CGResult(lam_best, mu_best, bound_best, model, y, value, converged, it, history)


def _path_stats(t, i, p):
    """``(tiers, e, c, cost, time)`` of job ``i``'s path ``p``, by table lookups."""
    l0, L, b0 = _job_slices(t, i)
    prev = 0
    lin = 0.0
    T = 0.0
    e = 0.0
    c = 0.0
    for j in range(L):
        k = int(p[j])
        lin += t.tr_c[b0 + j, 3 * prev + k] + t.comp_c[l0 + j, k]
        T += t.tr_t[b0 + j, 3 * prev + k] + t.comp_t[l0 + j, k]
        if k == 1:
            e += t.ops[l0 + j]
        elif k == 2:
            c += t.ops[l0 + j]
        prev = k
    lin += t.tr_c[b0 + L, 3 * prev]
    T += t.tr_t[b0 + L, 3 * prev]
    cost = lin + t.job_tw[i] * max(0.0, T - t.job_dl[i])
    return (np.array(p, dtype=np.int8), e, c, cost, T)


def _model_from_cols(cols, caps, scale) -> PathModel:
    jobs = []
    for cl in cols:
        jobs.append(JobPaths(np.stack([r[0] for r in cl]), np.array([r[1] for r in cl]),
                             np.array([r[2] for r in cl]), np.array([r[3] for r in cl]),
                             np.array([r[4] for r in cl])))
    return PathModel(jobs, caps, scale)


def enumerate_paths(inst, lam, mu, ub: float, lb: float, *, caps: Capacities | None = None,
                    max_labels: int = 100_000, max_columns: int = 200_000,
                    deadline: float = math.inf):
    """Every job's Pareto paths whose reduced cost ``priced - mu_i`` is at most
    ``ub - lb`` (plus a rounding slack): a set that contains an optimal decision whenever the
    optimum is at most ``ub``, given the certified bound ``lb = L(lam)``.

    Returns ``(model, None)`` or ``(None, reason)`` when the labels or columns exceed the
    limits or the deadline passes.
    """
    caps = caps or Capacities.of(inst)
    scale = objective_scale(inst)
    gap = max(0.0, ub - lb)
    slack = THRESHOLD_RTOL * max(abs(ub), abs(lb), scale)
    jobs = []
    total = 0
    for i in range(inst.n_jobs):
        thr = float(mu[i]) + gap + slack
        jp = job_paths(inst, i, lam=lam, threshold=thr, max_labels=max_labels, caps=caps)
        if jp is None:
            return None, f"job {i}: more than {max_labels} labels at one layer and tier"
        total += len(jp)
        if total > max_columns:
            return None, f"more than {max_columns} candidate paths (after job {i} of {inst.n_jobs})"
        if len(jp) == 0:
            return None, f"job {i}: no path within the reduced-cost threshold (numerical trouble)"
        jobs.append(jp)
        if time.perf_counter() > deadline:
            return None, "time limit reached while enumerating paths"
    return PathModel(jobs, caps, scale), None


def placement_reduced_costs(inst, lam, mu, caps: Capacities | None = None,
                            max_labels: int = 100_000, deadline: float = math.inf):
    """``rc[l, k]``: the least reduced cost ``priced - mu_i`` of job ``i``'s paths that put
    layer ``l`` on tier ``k`` (``inf`` when none). A placement with ``rc > UB - L(lam)`` is in no
    decision better than ``UB`` (module docstring), so its variable can be fixed to 0.

    Returns None when labels overflow or the deadline passes.
    """
    t = tables(inst)
    caps = caps or Capacities.of(inst)
    le = float(lam[0]) if caps.active[0] else 0.0
    lc = float(lam[1]) if caps.active[1] else 0.0
    rc = np.full((inst.n_layers, 3), np.inf)
    comp = np.array(t.comp_c)
    for i in range(inst.n_jobs):
        l0, L, b0 = _job_slices(t, i)
        for j in range(L):
            l = l0 + j
            saved = comp[l].copy()
            for k in range(3):
                comp[l] = np.inf
                comp[l, k] = saved[k]
                ok, paths, e, c, cost, T, peak = _job_labels(
                    comp, t.comp_t, t.tr_c, t.tr_t, t.ops, l0, L, b0, float(t.job_tw[i]),
                    float(t.job_dl[i]), math.inf, math.inf, False, False, le, lc, math.inf,
                    int(max_labels))
                if not ok:
                    return None
                if cost.size:
                    rc[l, k] = float(np.min(cost + le * e + lc * c)) - float(mu[i])
            comp[l] = saved
        if time.perf_counter() > deadline:
            return None
    return np.maximum(rc, 0.0)


def add_paths(model: PathModel, paths: list, inst) -> PathModel:
    """``model`` with the paths ``paths[i]`` (a list of tier vectors) added to job ``i`` where
    they are missing, e.g. the all-device path, so that a feasible choice always exists."""
    t = tables(inst)
    jobs = []
    for i, jp in enumerate(model.jobs):
        seen = {r.tobytes() for r in jp.tiers}
        rows = []
        for p in paths[i]:
            p = np.ascontiguousarray(p, dtype=np.int8)
            if p.tobytes() not in seen:
                seen.add(p.tobytes())
                rows.append(_path_stats(t, i, p))
        if rows:
            jp = JobPaths(np.vstack([jp.tiers] + [r[0][None, :] for r in rows]),
                          np.append(jp.e, [r[1] for r in rows]), np.append(jp.c, [r[2] for r in rows]),
                          np.append(jp.cost, [r[3] for r in rows]),
                          np.append(jp.time, [r[4] for r in rows]))
        jobs.append(jp)
    return PathModel(jobs, model.caps, model.scale)


def split_paths(inst, x: np.ndarray) -> list:
    """Decision ``x`` as one tier vector per job."""
    off = inst.layer_offsets
    return [np.ascontiguousarray(x[off[i]:off[i + 1]], dtype=np.int8) for i in range(inst.n_jobs)]


def lambda_grid_paths(inst, lam, caps: Capacities, factors=(0, 0.25, 0.5, 0.8, 1, 1.25, 2, 4, 8),
                      max_labels: int = 100_000, deadline: float = math.inf) -> list:
    """Each job's priced-optimal paths for multipliers on a grid around ``lam``: points of the
    lower convex hull of its (edge load, cloud load, cost) set, spread over the loads."""
    unit = objective_scale(inst) / max(float(np.sum(inst.ops)), 1e-300)
    scale_e = lam[0] if lam[0] > 0 else unit
    scale_c = lam[1] if lam[1] > 0 else unit
    out = [[] for _ in range(inst.n_jobs)]
    fe = factors if caps.active[0] else (0,)
    fc = factors if caps.active[1] else (0,)
    for a in fe:
        for b in fc:
            got = price(inst, (scale_e * a, scale_c * b), caps, max_labels)
            if got is None:
                return out
            for i, jp in enumerate(got[1]):
                out[i].append(jp.tiers[0])
            if time.perf_counter() > deadline:
                return out
    return out


def cheapest_paths(inst, lam, mu, k: int, budget: float, caps: Capacities | None = None,
                   max_labels: int = 2_000, deadline: float = math.inf) -> PathModel:
    """Each job's (at most) ``k`` Pareto paths of least reduced cost, at most ``budget`` above
    the job's minimum: the threshold grows from ``budget / 4096`` by factors of 8 until ``k``
    paths are in (cheap label sets first), and a job whose labels overflow ``max_labels``
    keeps what it had. A job may get none (callers add paths of their own)."""
    t = tables(inst)
    caps = caps or Capacities.of(inst)
    le = float(lam[0]) if caps.active[0] else 0.0
    lc = float(lam[1]) if caps.active[1] else 0.0
    jobs = []
    for i in range(inst.n_jobs):
        L = int(t.offsets[i + 1] - t.offsets[i])
        best = None
        b = float(budget) / 4096.0
        while time.perf_counter() <= deadline:
            jp = job_paths(inst, i, lam=lam, threshold=float(mu[i]) + b, max_labels=max_labels,
                           caps=caps)
            if jp is None:
                break
            best = jp
            if len(jp) >= k or b >= budget:
                break
            b = min(8.0 * b, float(budget))
        if best is None:
            empty = np.empty(0)
            jobs.append(JobPaths(np.empty((0, L), np.int8), empty, empty, empty, empty))
            continue
        o = np.argsort(best.cost + le * best.e + lc * best.c, kind="stable")[:k]
        jobs.append(JobPaths(best.tiers[o], best.e[o], best.c[o], best.cost[o], best.time[o]))
    return PathModel(jobs, caps, objective_scale(inst))


@dataclass
class LinearModel:
    """A scaled linear model: ``min obj @ v`` s.t. ``row_lo <= A v <= row_hi``,
    ``lb <= v <= ub``, ``integer`` marking binaries. Original objective ``scale * (obj @ v)``.
    ``decode(v)`` maps a solution to a decision."""

    obj: np.ndarray
    A: sp.csr_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    integer: np.ndarray
    scale: float
    decode: Callable[[np.ndarray], np.ndarray]
    encode: Callable[[np.ndarray], np.ndarray]


def longest_times(inst) -> np.ndarray:
    """Each job's largest possible time over all paths (a bound on its tardiness)."""
    t = tables(inst)
    out = np.empty(inst.n_jobs)
    for i in range(inst.n_jobs):
        l0, L, b0 = _job_slices(t, i)
        rc, rmin, rmax = _remaining(t.comp_c, t.comp_t, t.tr_c, t.tr_t, t.ops, l0, L, b0, 0.0, 0.0)
        out[i] = max(t.tr_t[b0, k] + t.comp_t[l0, k] + rmax[0, k] for k in range(3))
    return out


def transition_model(inst, caps: Capacities | None = None,
                     fixed: np.ndarray | None = None, scale: float | None = None) -> LinearModel:
    """The transition formulation (module docstring), scaled.

    Variables, per job: ``z[l, k]`` (binary) for its layers, ``w[b, a, c]`` in [0, 1] for its
    inner boundaries, and ``u_i`` (scaled tardiness, only with a deadline and a tardiness
    weight). The input and result transfers depend on one layer only and sit on ``z``.
    ``fixed`` (n_layers, 3) bool: placements fixed to 0 (upper bound 0), with the transitions
    into and out of them. ``scale``: the objective unit (default :func:`objective_scale`).
    """
    t = tables(inst)
    caps = caps or Capacities.of(inst)
    scale = objective_scale(inst) if scale is None or not scale > 0 else float(scale)
    nl = inst.n_layers
    nj = inst.n_jobs
    Tmax = longest_times(inst)
    # Variable layout: z (nl*3), then w per inner boundary (9 each), then u per tardy job.
    inner = []  # (boundary b, layer l before it)
    for i in range(nj):
        l0, L, b0 = _job_slices(t, i)
        for j in range(L - 1):
            inner.append((b0 + j + 1, l0 + j))
    nz = nl * 3
    nw = 9 * len(inner)
    tardy = [i for i in range(nj) if t.job_tw[i] > 0 and math.isfinite(t.job_dl[i])
             and Tmax[i] > t.job_dl[i]]
    nu = len(tardy)
    nv = nz + nw + nu
    obj = np.zeros(nv)
    tcoef = np.zeros(nv)  # time coefficients (seconds)
    for i in range(nj):
        l0, L, b0 = _job_slices(t, i)
        for j in range(L):
            l = l0 + j
            for k in range(3):
                v = 3 * l + k
                obj[v] += t.comp_c[l, k]
                tcoef[v] += t.comp_t[l, k]
        for k in range(3):
            obj[3 * l0 + k] += t.tr_c[b0, k]
            tcoef[3 * l0 + k] += t.tr_t[b0, k]
            ll = l0 + L - 1
            obj[3 * ll + k] += t.tr_c[b0 + L, 3 * k]
            tcoef[3 * ll + k] += t.tr_t[b0 + L, 3 * k]
    for q, (b, l) in enumerate(inner):
        base = nz + 9 * q
        obj[base:base + 9] = t.tr_c[b]
        tcoef[base:base + 9] = t.tr_t[b]
    rows, cols, vals, lo, hi = [], [], [], [], []
    r = 0

    def add_row(cs, vs, rlo, rhi):
        nonlocal r
        rows.extend([r] * len(cs))
        cols.extend(cs)
        vals.extend(vs)
        lo.append(rlo)
        hi.append(rhi)
        r += 1

    for l in range(nl):  # assignment
        add_row([3 * l, 3 * l + 1, 3 * l + 2], [1.0, 1.0, 1.0], 1.0, 1.0)
    for q, (b, l) in enumerate(inner):  # flow conservation around each inner boundary
        base = nz + 9 * q
        for a in range(3):
            add_row([base + 3 * a + c for c in range(3)] + [3 * l + a], [1.0] * 3 + [-1.0], 0.0, 0.0)
        for c in range(3):
            add_row([base + 3 * a + c for a in range(3)] + [3 * (l + 1) + c], [1.0] * 3 + [-1.0], 0.0, 0.0)
    for k, tier in ((0, 1), (1, 2)):  # capacities, in units of the capacity
        if caps.active[k]:
            ls = [l for l in range(nl) if t.ops[l] > 0]
            add_row([3 * l + tier for l in ls], [float(t.ops[l] / caps.row_scale[k]) for l in ls],
                    -np.inf, float(caps.cap[k] / caps.row_scale[k]))
    lb = np.zeros(nv)
    ub = np.ones(nv)
    for q, i in enumerate(tardy):  # (T_i - U_i) / tau_i <= d_i / tau_i, u = U / tau
        l0, L, b0 = _job_slices(t, i)
        tau = Tmax[i]
        vs = list(range(3 * l0, 3 * (l0 + L)))
        for qq, (b, l) in enumerate(inner):
            if l0 <= l < l0 + L:
                vs.extend(range(nz + 9 * qq, nz + 9 * qq + 9))
        coef = [tcoef[v] / tau for v in vs]
        keep = [(v, cf) for v, cf in zip(vs, coef) if cf != 0.0]
        u = nz + nw + q
        add_row([v for v, _ in keep] + [u], [cf for _, cf in keep] + [-1.0], -np.inf,
                float(t.job_dl[i] / tau))
        obj[u] = t.job_tw[i] * tau
        ub[u] = (Tmax[i] - t.job_dl[i]) / tau
    if fixed is not None:
        fz = np.asarray(fixed, dtype=bool).reshape(nl, 3)
        ub[:nz][fz.ravel()] = 0.0
        for q, (b, l) in enumerate(inner):
            for a in range(3):
                for c in range(3):
                    if fz[l, a] or fz[l + 1, c]:
                        ub[nz + 9 * q + 3 * a + c] = 0.0
    A = sp.csr_matrix((np.array(vals, dtype=np.float64), (np.array(rows), np.array(cols))),
                      shape=(r, nv))
    integer = np.zeros(nv, dtype=bool)
    integer[:nz] = True

    def decode(v):
        zz = np.asarray(v[:nz]).reshape(nl, 3)
        return np.argmax(zz, axis=1).astype(np.int8)

    def encode(x):
        v = np.zeros(nv)
        v[np.arange(nl) * 3 + x] = 1.0
        for q, (b, l) in enumerate(inner):
            v[nz + 9 * q + 3 * int(x[l]) + int(x[l + 1])] = 1.0
        if nu:
            job_T = np.empty(nj)
            job_times(t, np.ascontiguousarray(x, dtype=np.int8), job_T)
            for q, i in enumerate(tardy):
                v[nz + nw + q] = max(0.0, job_T[i] - t.job_dl[i]) / Tmax[i]
        return v

    return LinearModel(obj / scale, A, np.array(lo), np.array(hi), lb, ub, integer, scale,
                       decode, encode)


def safe_dual_bound(model: LinearModel, duals: np.ndarray) -> float:
    """A lower bound on ``min obj @ v`` over the LP relaxation of ``model`` that holds for
    *any* row multipliers (Neumaier and Shcherbina, 2004): multipliers of the wrong sign for a
    row's finite sides are zeroed, and every variable's reduced cost is bounded over its box.
    So an inexact LP solution still gives a valid bound, only a weaker one. Returned in original
    units, lowered by a bound on the floating-point rounding of the sums.
    """
    y = np.asarray(duals, dtype=np.float64).copy()
    y[~np.isfinite(y)] = 0.0
    lo, hi = model.row_lo, model.row_hi
    # d(value)/d(rhs) convention: y > 0 uses the lower side, y < 0 the upper side.
    y[(y > 0) & ~np.isfinite(lo)] = 0.0
    y[(y < 0) & ~np.isfinite(hi)] = 0.0
    side = np.where(y > 0, np.where(np.isfinite(lo), lo, 0.0), np.where(np.isfinite(hi), hi, 0.0))
    A = model.A
    r = model.obj - A.T @ y
    box = np.maximum(np.abs(model.lb), np.abs(model.ub))
    terms = np.concatenate([y * side, np.minimum(r * model.lb, r * model.ub)])
    val = math.fsum(terms.tolist())
    # Rounding: each reduced cost carries at most (nnz + 2) * eps * (|c| + |A|^T |y|) error.
    eps = np.finfo(np.float64).eps
    nnz = np.diff(A.tocsc().indptr)
    r_err = (nnz + 2) * eps * (np.abs(model.obj) + abs(A).T @ np.abs(y))
    err = float(np.sum(r_err * box)) + (terms.size + 2) * eps * math.fsum(np.abs(terms).tolist())
    return (val - err) * model.scale
