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

The per-job kernels (Viterbi, the label DP) live in :mod:`offbench_solvers._chain`, shared with
the path formulation's Lagrangian pricing (which solves the same per-job problem on priced
tables); this module adds the solver around them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from offbench._numba import jit
from offbench.cost import fits, tables, tier_can_bind, tier_loads
from offbench.solver import Proposal, Solver, Unsupported

from ._chain import CANDIDATES_START, LABELS_START, best_path, solve_jobs, viterbi

#: Jobs per kernel call; the clock is checked between calls.
JOBS_PER_CALL = 1 << 14


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
        labels += solve_jobs(t, j, j1, x, job_best, job_labels, Lmax, LABELS_START,
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
        viterbi(t, i, 0.0, V, arg, False)
        best_path(t, i, 1.0, 0.0, V[0], arg[0], x)


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
