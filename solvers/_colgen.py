"""Column generation for the path formulation's LP relaxation (see
:mod:`offbench_solvers._formulation`): a restricted master LP (any LP solver, passed in) and exact
Lagrangian pricing (:func:`offbench_solvers._paths.price`), with the certified bound
``L(lam) = sum_i mu_i(lam) - lam . cap`` tracked at every iteration.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.sparse as sp

from offbench.cost import tables

from ._paths import (Capacities, PathModel, _job_slices, _model_from_cols, _path_stats,
                     lagrangian_bound, objective_scale, price)


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
                      max_iterations: int = 200,
                      deadline: float = math.inf, rtol: float = 1e-9) -> CGResult:
    """The LP relaxation of the path formulation by column generation.

    Starts from the all-device path and each job's unconstrained best path, then alternates
    the restricted master LP (``lp``) and exact pricing (:func:`price`) until pricing adds no
    new path, the LP value and the certified bound agree to ``rtol``, or ``deadline``
    (``time.perf_counter()`` value) passes.
    """
    caps = caps or Capacities.of(inst)
    scale = objective_scale(inst)
    t = tables(inst)
    mu0, best0 = price(inst, (0.0, 0.0), caps)
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
        mu, best = price(inst, lam, caps)
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
