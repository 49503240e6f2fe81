"""Exhaustive search: every one of the ``3^n`` placements, priced incrementally.

The placements are visited in the order of the reflected ternary Gray code (Knuth, *TAOCP*
7.2.1.1, Algorithm H, "loopless reflected mixed-radix Gray generation"): from one placement to
the next exactly one layer changes its tier, by one step (0 <-> 1 or 1 <-> 2). Each step is
priced by :func:`offbench.cost.apply_move`, the cost model's O(1) move kernel, which also keeps
the per-job times (for tardiness) and the edge/cloud loads (for feasibility) up to date. A full
enumeration therefore costs O(1) per placement instead of O(n).

Floating-point drift. The running cost and the running loads are sums of millions of deltas, so
they drift from the true cost and loads of the current placement. Three things keep the answer
exact:

* feasibility is never read off the running loads directly: :func:`offbench.cost.fits_state`
  decides from them only when they are farther from a capacity than a certified bound on their
  drift, and otherwise recomputes the exact loads (so a load equal to a capacity, or a
  switched-off tier of capacity 0 whose running load came back to ``+-1e-8`` instead of 0,
  is judged exactly as :func:`offbench.cost.evaluate` judges it). Before this rule, a capacity
  of 0 compared against a drifted load rejected feasible placements, and exhaustive returned
  ``optimal`` with a cost up to 30 % too high on such instances (issue 9);

* the running value is only a filter: a placement whose running cost is below the best so far
  (and whose loads fit) is priced again from scratch with :func:`offbench.cost.decision_cost`,
  and becomes the best only if that exact cost is strictly lower; the running cost is reset to
  the exact value at that point;
* every time a Gray digit at or above ``RESYNC_DIGIT`` changes (once every ``3^RESYNC_DIGIT``
  steps or so), the running cost, per-job times and loads are recomputed from scratch, so the
  drift never accumulates over more than a few thousand steps (relative error of the filter
  ~1e-13, far below the 1e-6 at which references are compared).

Ties are broken deterministically: the first placement in Gray order that reaches the optimal
cost is kept (a later one must be strictly cheaper to replace it).

The walk runs in chunks of steps inside a Numba kernel; between chunks the wrapper checks the
clock, so a time limit stops the search with status ``timeout`` and the best placement seen so
far (never worse than all-device, the first placement visited, which is always feasible).
"""

from __future__ import annotations

import math
import time

import numpy as np

from offbench._numba import jit
from offbench.cost import apply_move, decision_cost, fits_state, move_state, new_move_state, tables
from offbench.solver import Param, Proposal, Solver, Unsupported

#: The reference chain asks exhaustive search for a proof up to this many layers (3^16 = 4.3e7
#: placements: about a second at the benchmarked rate).
REFERENCE_MAX_LAYERS = 16

#: A Gray digit at or above this index triggers a full recomputation of the running state.
RESYNC_DIGIT = 7

#: Steps of the first chunk; later chunks are sized to about ``CHUNK_SECONDS`` each.
FIRST_CHUNK = 1 << 20
CHUNK_SECONDS = 0.25


@jit
def _resync(t, x, job_T, load):
    """Recompute per-job times and loads of ``x`` exactly; return its exact cost."""
    move_state(t, x, job_T, load)
    return decision_cost(t, x)


@jit
def _gray_walk(t, x, job_T, load, f, o, cur, best, best_x, budget, resync_digit):
    """Advance the Gray walk by at most ``budget`` steps.

    State (updated in place, so a later call continues where this one stopped): ``x`` the
    current placement (also the Gray digits), ``f`` the focus pointers (n + 1), ``o`` the
    directions (+1/-1), ``cur[0]`` the running cost, ``best[0]``/``best_x`` the best feasible
    placement so far. Returns ``(steps, exact_evaluations, done)``.
    """
    n = x.size
    c = cur[0]
    b = best[0]
    exact = 0
    steps = 0
    done = False
    while steps < budget:
        j = f[0]
        f[0] = 0
        if j == n:
            done = True
            break
        k = x[j] + o[j]
        c += apply_move(t, x, j, k, job_T, load)
        steps += 1
        if k == 0 or k == 2:
            o[j] = -o[j]
            f[j] = f[j + 1]
            f[j + 1] = j + 1
        if j >= resync_digit:
            c = _resync(t, x, job_T, load)
            exact += 1
        if c < b and fits_state(t, x, load):
            c = decision_cost(t, x)
            exact += 1
            if c < b:
                b = c
                for q in range(n):          # (a loop: slice assignment compiles slowly)
                    best_x[q] = x[q]
    cur[0] = c
    best[0] = b
    return steps, exact, done


class Exhaustive(Solver):
    """Enumerate all 3^n placements (Gray order, O(1) per placement); exact.

    Refuses instances with more than ``max_layers`` layers in total (3^n grows fast:
    3^16 = 4.3e7 placements take about a second, 3^18 = 3.9e8 about ten). With a time limit it
    stops with status ``timeout`` and the best placement seen so far. Status ``optimal`` means
    every placement was priced. See the module docstring for the drift control and ties.
    """

    name = "exhaustive"
    version = 1
    guarantee = "exact"
    reference_role = "exact"
    reference_rank = 20

    @classmethod
    def exact_for(cls, inst):
        """Asked by the reference chain up to :data:`REFERENCE_MAX_LAYERS` layers."""
        return inst.n_layers <= REFERENCE_MAX_LAYERS
    params = (
        Param("max_layers", int, 18, low=1, high=39,
              doc="refuse instances with more layers than this (3^max_layers placements)"),
    )

    def _solve(self, inst, ctx):
        n = inst.n_layers
        if n > self.max_layers:
            raise Unsupported(
                f"exhaustive search over {n} layers would visit 3^{n} = {3.0 ** n:.3g} "
                f"placements; the limit is max_layers={self.max_layers} "
                f"(3^{self.max_layers} = {3.0 ** self.max_layers:.3g}). Raise max_layers "
                f"(--param max_layers={n}) if that is really meant, or use dp or milp.")
        t = tables(inst)
        x = np.zeros(n, dtype=np.int8)
        job_T, load = new_move_state(inst, x)
        cur = np.array([_resync(t, x, job_T, load)])
        best = cur.copy()           # all-device: the first placement, always feasible
        best_x = x.copy()
        f = np.arange(n + 1, dtype=np.int64)
        o = np.ones(n, dtype=np.int8)
        resync_digit = RESYNC_DIGIT if n > RESYNC_DIGIT else n
        total = 3 ** n
        visited = 1
        exact = 1
        chunk = FIRST_CHUNK
        done = False
        while not done:
            left = ctx.time_left()
            if left <= 0:
                break
            t0 = time.perf_counter()
            steps, ex, done = _gray_walk(t, x, job_T, load, f, o, cur, best, best_x, chunk,
                                         resync_digit)
            dt = time.perf_counter() - t0
            visited += steps
            exact += ex
            if steps and dt > 0:
                rate = steps / dt
                target = CHUNK_SECONDS
                if not math.isinf(left):
                    target = min(CHUNK_SECONDS, max(left - dt, 0.0) / 2)
                chunk = int(min(max(rate * target, 1 << 14), 1 << 40))
        ctx.charge(visited + exact)
        info = {"placements": visited, "of": total, "exact_evaluations": exact}
        if done:
            return Proposal(best_x, status="optimal", objective=float(best[0]),
                            info=info)
        return Proposal(best_x, status="timeout", objective=float(best[0]), info=info)
