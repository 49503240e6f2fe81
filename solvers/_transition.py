"""The transition formulation (see :mod:`offbench_solvers._formulation`): placement binaries,
transitions between consecutive layers, tardiness epigraphs and knapsack capacity rows, built
from the cost model's tables and scaled; and :func:`safe_dual_bound`, a valid bound from any LP
multipliers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.sparse as sp

from offbench.cost import all_device_cost, job_times, tables, tardiness

from ._chain import backward
from ._paths import Capacities, _job_slices, objective_scale


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


#: The tardiness unit of a deadline row is at least its largest kept time (or its deadline)
#: over this: its coefficients stay within this range of 1.
ROW_RANGE = 1e6

#: A 0/1 column costing alone more than this many times the all-device decision (which is always
#: feasible) is fixed to 0 in the transition and DAG models: exact (a decision's cost is a float
#: sum of non-negative terms, never below one of them), and it keeps costs of 1e20 objective units,
#: which back ends take for infinite, out of the models. Any factor above 1 is exact; a large one
#: leaves every model of the benchmark sets as it was (at 2, five of bench_dag_milp's fifteen
#: models lost 5-27 columns and seed 12's proof took 3,630 nodes instead of 1,982).
DEAR_FACTOR = 1e3


def longest_times(inst) -> np.ndarray:
    """Each job's largest possible time over all paths (a bound on its tardiness)."""
    t = tables(inst)
    out = np.empty(inst.n_jobs)
    for i in range(inst.n_jobs):
        l0, L, b0 = _job_slices(t, i)
        V = np.empty((4, L, 3))
        arg = np.empty((4, L, 3), np.int8)
        backward(t.step_c, t.step_t, t.end_c, t.end_t, t.ops, l0, L, i, 0.0, 0.0, 0.0, V, arg,
                 True)
        out[i] = max(t.step_t[l0, k] + V[2, 0, k] for k in range(3))
    return out


def transition_model(inst, caps: Capacities | None = None,
                     fixed: np.ndarray | None = None, scale: float | None = None,
                     paths: dict | None = None, fix_dear: bool = True) -> LinearModel:
    """The transition formulation (module docstring), scaled; with ``paths``, the *linked*
    formulation. ``fix_dear=False`` keeps the 0/1 columns that cost alone more than
    :data:`DEAR_FACTOR` times the all-device decision (fixed to 0 otherwise; tests price every
    decision with it).

    Variables, per job: ``z[l, k]`` (binary) for its layers, ``w[b, a, c]`` in [0, 1] for its
    inner boundaries, and ``u_i`` (scaled tardiness, only with a deadline and a tardiness
    weight). The input and result transfers depend on one layer only and sit on ``z``.
    ``fixed`` (n_layers, 3) bool: placements fixed to 0 (upper bound 0), with the transitions
    into and out of them. ``scale``: the objective unit (default :func:`objective_scale`).

    ``paths``: ``{job: JobPaths}``, candidate paths of some jobs (a set that contains the job's
    path in some optimal decision). Such a job has no ``w`` or ``u``: one continuous column
    ``y_p`` in [0, 1] per path carries its cost (tardiness included), and linking rows
    ``z[l, k] = sum of y_p over the paths with layer l on tier k`` tie its placements to them.
    Its LP is then the convex hull of its paths (the path formulation's), while branching stays
    on the placements ``z``; an integral ``z`` forces one path (paths are distinct tier
    vectors), so ``y`` needs no integrality. The capacity rows stay on ``z``.
    """
    t = tables(inst)
    caps = caps or Capacities.of(inst)
    scale = objective_scale(inst) if scale is None or not scale > 0 else float(scale)
    paths = dict(paths or {})
    nl = inst.n_layers
    nj = inst.n_jobs
    Tmax = longest_times(inst)
    # Variable layout: z (nl*3), then w per inner boundary (9 each) of the transition jobs,
    # then u per tardy transition job, then y per path of the path jobs.
    inner = []  # (boundary b, layer l before it)
    for i in range(nj):
        if i in paths:
            continue
        l0, L, b0 = _job_slices(t, i)
        for j in range(L - 1):
            inner.append((b0 + j + 1, l0 + j))
    nz = nl * 3
    nw = 9 * len(inner)
    tardy = [i for i in range(nj) if i not in paths and t.job_tw[i] > 0
             and math.isfinite(t.job_dl[i]) and Tmax[i] > t.job_dl[i]]
    nu = len(tardy)
    ystart = {}
    ny = 0
    for i in sorted(paths):
        ystart[i] = nz + nw + nu + ny
        ny += len(paths[i])
    nv = nz + nw + nu + ny
    obj = np.zeros(nv)
    tcoef = np.zeros(nv)  # time coefficients (seconds)
    for i in range(nj):
        if i in paths:
            obj[ystart[i]:ystart[i] + len(paths[i])] = paths[i].cost
            continue
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
    # A 0/1 column (a placement, a transition or a path: 0 or 1 in every decision) that costs
    # alone more than DEAR_FACTOR times the all-device decision is in no optimal decision (a
    # decision's cost is a float sum of non-negative terms, never below one of them): fixed to
    # 0, its cost set to 0 and left out of the deadline rows (the same model). This keeps costs
    # of 1e20 objective units (a result of 5e10 bits sent home at 1,000 bit/s against an
    # all-device cost of 1e-12) and their times away from the back ends, which take them for
    # infinite (SCIP: MODEL_INVALID; HiGHS under cvxpy: no solution). Likewise a column whose
    # time alone makes its job's tardiness cost more than that.
    dear_cost = DEAR_FACTOR * all_device_cost(inst) if fix_dear else math.inf
    dear = obj > dear_cost
    dear[nz + nw:nz + nw + nu] = False
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
    for i in sorted(paths):  # linking: z[l, k] = sum of the job's paths through (l, k)
        l0, L, b0 = _job_slices(t, i)
        tiers = np.asarray(paths[i].tiers)
        for j in range(L):
            for k in range(3):
                ps = np.nonzero(tiers[:, j] == k)[0]
                add_row([3 * (l0 + j) + k] + [ystart[i] + int(p) for p in ps],
                        [1.0] + [-1.0] * ps.size, 0.0, 0.0)
    for q, (b, l) in enumerate(inner):  # flow conservation around each inner boundary
        base = nz + 9 * q
        for a in range(3):
            add_row([base + 3 * a + c for c in range(3)] + [3 * l + a], [1.0] * 3 + [-1.0], 0.0, 0.0)
        for c in range(3):
            add_row([base + 3 * a + c for a in range(3)] + [3 * (l + 1) + c], [1.0] * 3 + [-1.0], 0.0, 0.0)
    # Capacities, in units of the capacity. A layer whose ops alone exceed a capacity cannot
    # run on that tier (loads only add up): its placement is fixed to 0 and left out of the
    # row, which keeps every coefficient at most 1 (a capacity of 1.5e-275 under ops of 1 gave
    # a coefficient of 6.6e274, which OR-Tools' HiGHS refused as an invalid model).
    over = []
    for k, tier in ((0, 1), (1, 2)):
        if caps.active[k]:
            ls = [l for l in range(nl) if 0 < t.ops[l] <= caps.cap[k]]
            over.extend(3 * l + tier for l in range(nl) if t.ops[l] > caps.cap[k])
            if ls:
                add_row([3 * l + tier for l in ls],
                        [float(t.ops[l] / caps.row_scale[k]) for l in ls],
                        -np.inf, float(caps.cap[k] / caps.row_scale[k]))
    lb = np.zeros(nv)
    ub = np.ones(nv)
    ub[over] = 0.0
    taus = []
    for q, i in enumerate(tardy):  # (T_i - U_i) / tau_i <= d_i / tau_i, u = U / tau
        l0, L, b0 = _job_slices(t, i)
        # The unit: the longest time, but at most the time whose tardiness costs one objective
        # unit, so that the back end's row tolerance (~1e-7 of the unit) costs at most ~1e-7
        # objective units, as any other column's does. (With the longest time alone, a job
        # whose result takes 5,000 s to come home and whose best decision is 1e-5 s tardy had
        # u = 2e-9 inside the tolerance: HiGHS answered u = 0, an objective of 0 for a cost of
        # 1e-5.)
        # But never so small that a kept time exceeds ROW_RANGE units: with a tardiness weight
        # of 1e16 the unit scale / tw was 2e-16 s and coefficients of 1e16 made the model
        # invalid (review of fa40be5), where the longest time had worked.
        vs = list(range(3 * l0, 3 * (l0 + L)))
        for qq, (b, l) in enumerate(inner):
            if l0 <= l < l0 + L:
                vs.extend(range(nz + 9 * qq, nz + 9 * qq + 9))
        for v in vs:
            if t.job_tw[i] * (tcoef[v] - t.job_dl[i]) > dear_cost:
                dear[v] = True
        kept = max([tcoef[v] for v in vs if not dear[v]] + [t.job_dl[i]])
        tau = min(Tmax[i], max(scale / t.job_tw[i], kept / ROW_RANGE))
        taus.append(tau)
        coef = [tcoef[v] / tau for v in vs]
        keep = [(v, cf) for v, cf in zip(vs, coef) if cf != 0.0 and not dear[v]]
        u = nz + nw + q
        add_row([v for v, _ in keep] + [u], [cf for _, cf in keep] + [-1.0], -np.inf,
                float(t.job_dl[i] / tau))
        obj[u] = t.job_tw[i] * tau
        ub[u] = (Tmax[i] - t.job_dl[i]) / tau
    ub[dear] = 0.0
    obj[dear] = 0.0
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
        for i in paths:
            l0, L, b0 = _job_slices(t, i)
            hit = np.nonzero(np.all(paths[i].tiers == x[l0:l0 + L], axis=1))[0]
            if hit.size:
                v[ystart[i] + int(hit[0])] = 1.0
        for q, (b, l) in enumerate(inner):
            v[nz + 9 * q + 3 * int(x[l]) + int(x[l + 1])] = 1.0
        if nu:
            job_T = np.empty(nj)
            job_times(t, np.ascontiguousarray(x, dtype=np.int8), job_T)
            for q, i in enumerate(tardy):
                v[nz + nw + q] = tardiness(job_T[i], t.job_dl[i]) / taus[q]
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
