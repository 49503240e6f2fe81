"""The path formulation's pieces: Pareto paths of a job by label setting, Lagrangian pricing,
path sets and the multiple-choice knapsack over them (see :mod:`offbench_solvers._formulation`
for the mathematics: dominance, the Lagrangian reduction, thresholds).

Everything is built from the cost model's fused step tables (:func:`offbench.cost.tables`): a
label's linear cost and time are summed in the order of :func:`offbench.cost.job_walk`,
tardiness is :func:`offbench.cost.tardiness`, a path's loads :func:`offbench.cost.path_loads`,
the capacity test :func:`offbench.cost.fits`, and the completion bounds come from the shared
backward Viterbi pass (:func:`offbench_solvers._chain.backward`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from offbench._numba import jit
from offbench.cost import (all_device_cost, fits, job_cost, path_loads, path_walk, tables,
                           tardiness, tier_can_bind)

from ._chain import CANDIDATES_START, LABELS_START, backward, priced_tables, solve_jobs

#: Relative slack added to the reduced-cost threshold, so float rounding never drops a path
#: that an exact computation would keep.
THRESHOLD_RTOL = 1e-9


# ------------------------------------------------------------------------------ label setting
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
            g = tardiness(T[a] + dmin, dl) - tardiness(T[b] + dmin, dl)
        else:
            g = tardiness(T[a] + dmax, dl) - tardiness(T[b] + dmax, dl)
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
        key[q] = D[q] + tw * tardiness(T[q] + dmin, dl)
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
def _job_labels(step_c, step_t, end_c, end_t, ops, l0, L, i, tw, dl, cap_e, cap_c,
                use_e, use_c, lam_e, lam_c, thr, max_labels):
    """Label setting over one job's layers (see the module docstring).

    ``use_e``/``use_c``: keep the edge/cloud load as a dimension of the labels (otherwise it is
    folded into the compared cost with its multiplier). Labels over a capacity, or whose priced
    completion bound exceeds ``thr``, are dropped. Returns ``(ok, paths, e, c, cost, T, peak)``:
    ``ok`` is False when some (layer, tier) held more than ``max_labels`` labels.
    """
    V = np.empty((4, L, 3))
    arg = np.empty((4, L, 3), np.int8)
    backward(step_c, step_t, end_c, end_t, ops, l0, L, i, lam_e, lam_c, 0.0, V, arg, True)
    rc = V[0]
    rmin = V[1]
    rmax = V[2]
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
                if not (fits(ne, cap_e) and fits(nc, cap_c)):
                    continue
                nl = pl + step_c[l, 3 * pk + k]
                nT = pT + step_t[l, 3 * pk + k]
                bound = nl + lam_e * ne + lam_c * nc + rc[j, k] + tw * tardiness(nT + rmin[j, k], dl)
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
        T = S_T[s] + end_t[i, k]
        cost = S_lin[s] + end_c[i, k] + tw * tardiness(T, dl)
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
        active = np.array([bool(tier_can_bind(t, 1)), bool(tier_can_bind(t, 2))])
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
        t.step_c, t.step_t, t.end_c, t.end_t, t.ops, l0, L, i, float(t.job_tw[i]),
        float(t.job_dl[i]), caps.cap[0], caps.cap[1], bool(caps.active[0]), bool(caps.active[1]),
        float(lam[0]) if caps.active[0] else 0.0, float(lam[1]) if caps.active[1] else 0.0,
        float(threshold), int(max_labels))
    if not ok:
        return None
    return JobPaths(paths, e, c, cost, T)


def _priced_paths(t, lam_e: float, lam_c: float, jobs, n_layers: int, step=None):
    """Each job's path (written into an ``int8`` decision) minimizing ``cost + lam_e e +
    lam_c c``: dp's exact per-job solver (:func:`offbench_solvers._chain.solve_jobs`) on the
    priced tables (``step``: priced step costs to use instead, e.g. with placements masked).
    A ``range`` of jobs is solved in one call of the kernel (the same paths as one call per
    job: each job's labels are its own, and only a job that outgrows the buffers is solved
    again with larger ones); a 30 x 10 solve makes about 3,000 of these calls, whose Python
    overhead was a tenth of its CPU."""
    if step is not None:
        view = step.view()
        view.setflags(write=False)      # the cost tables' Numba type: no recompiling
        tp = t._replace(step_c=view)
    else:
        tp = priced_tables(t, lam_e, lam_c)
    x = np.zeros(n_layers, np.int8)
    nj = t.offsets.size - 1
    best = np.full(nj, np.nan)
    labels = np.zeros(nj, np.int64)
    Lmax = int(np.max(t.offsets[1:] - t.offsets[:-1]))
    if isinstance(jobs, range) and jobs.step == 1:
        if len(jobs):
            solve_jobs(tp, jobs.start, jobs.stop, x, best, labels, Lmax, LABELS_START,
                       CANDIDATES_START)
        return x
    for i in jobs:
        solve_jobs(tp, i, i + 1, x, best, labels, Lmax, LABELS_START, CANDIDATES_START)
    return x


def price(inst, lam=(0.0, 0.0), caps: Capacities | None = None):
    """Lagrangian pricing: for each job, the path minimizing ``cost + lam_e e + lam_c c``
    (dp's exact per-job solver on priced tables; ties to the lower tier).

    Returns ``(mu, best)``: ``mu`` (n_jobs,) the minima (each the priced cost of its path,
    from the cost model's walk and loads), ``best`` a list of :class:`JobPaths` with the
    minimizing path (one row). Capacities are not imposed (a relaxation).
    """
    t = tables(inst)
    caps = caps or Capacities.of(inst)
    le = float(lam[0]) if caps.active[0] else 0.0
    lc = float(lam[1]) if caps.active[1] else 0.0
    x = _priced_paths(t, le, lc, range(inst.n_jobs), inst.n_layers)
    mu = np.empty(inst.n_jobs)
    best = []
    for i in range(inst.n_jobs):
        l0, L, b0 = _job_slices(t, i)
        p, e, c, cost, T = _path_stats(t, i, x[l0:l0 + L])
        mu[i] = cost + le * e + lc * c
        best.append(JobPaths(p[None, :], np.array([e]), np.array([c]), np.array([cost]),
                             np.array([T])))
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



def _path_stats(t, i, p):
    """``(tiers, e, c, cost, time)`` of job ``i``'s path ``p``, by the cost model's job walk."""
    p = np.ascontiguousarray(p, dtype=np.int8)
    C, T = path_walk(t, i, p)
    e, c = path_loads(t, i, p)
    return (p.copy(), float(e), float(c), float(job_cost(t, i, C, T)), float(T))


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
                            deadline: float = math.inf):
    """``rc[l, k]``: the least reduced cost ``priced - mu_i`` of job ``i``'s paths that put
    layer ``l`` on tier ``k`` (``inf`` when none). A placement with ``rc > UB - L(lam)`` is in no
    decision better than ``UB`` (module docstring), so its variable can be fixed to 0. Each is
    one exact per-job solve (:func:`_priced_paths`) with the other tiers of layer ``l`` barred.

    Returns None when the deadline passes.
    """
    t = tables(inst)
    caps = caps or Capacities.of(inst)
    le = float(lam[0]) if caps.active[0] else 0.0
    lc = float(lam[1]) if caps.active[1] else 0.0
    rc = np.full((inst.n_layers, 3), np.inf)
    step = np.array(priced_tables(t, le, lc).step_c)
    for i in range(inst.n_jobs):
        l0, L, b0 = _job_slices(t, i)
        for j in range(L):
            l = l0 + j
            saved = step[l].copy()
            for k in range(3):
                step[l] = np.inf                    # every way into layer l but onto tier k
                step[l, k::3] = saved[k::3]
                x = _priced_paths(t, le, lc, (i,), inst.n_layers, step)
                p, e, c, cost, T = _path_stats(t, i, x[l0:l0 + L])
                if p[j] == k:
                    rc[l, k] = cost + le * e + lc * c - float(mu[i])
            step[l] = saved
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
                      deadline: float = math.inf) -> list:
    """Each job's priced-optimal paths for multipliers on a grid around ``lam``: points of the
    lower convex hull of its (edge load, cloud load, cost) set, spread over the loads."""
    unit = objective_scale(inst) / max(float(np.sum(inst.ops)), 1e-300)
    scale_e = lam[0] if lam[0] > 0 else unit
    scale_c = lam[1] if lam[1] > 0 else unit
    out = [[] for _ in range(inst.n_jobs)]
    fe = factors if caps.active[0] else (0,)
    fc = factors if caps.active[1] else (0,)
    # The paths of price(inst, lam, caps) without pricing them (only the tiers are used).
    t = tables(inst)
    off = inst.layer_offsets
    for a in fe:
        for b in fc:
            le = float(scale_e * a) if caps.active[0] else 0.0
            lc = float(scale_c * b) if caps.active[1] else 0.0
            x = _priced_paths(t, le, lc, range(inst.n_jobs), inst.n_layers)
            for i in range(inst.n_jobs):
                out[i].append(x[off[i]:off[i + 1]].copy())
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
