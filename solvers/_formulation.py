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

Where the pieces live (this module re-exports them, so ``from offbench_solvers import _formulation
as F`` reaches all of them): :mod:`offbench_solvers._paths` (label setting, pricing, path sets and
the path model; :func:`cheapest_paths` and :func:`lambda_grid_paths`, candidate paths for a
restricted MILP), :mod:`offbench_solvers._colgen` (column generation),
:mod:`offbench_solvers._transition` (the transition model, :func:`safe_dual_bound`),
:mod:`offbench_solvers._chain` (the backward Viterbi pass shared with dp) and
:mod:`offbench_solvers._repair` (:func:`repair_and_improve`: capacity repair and descent, shared
with the heuristics and local search). :func:`warm_kernels` (here) compiles them all once per
process; the MILP back ends are in :mod:`offbench_solvers._backends`, the incumbent trajectories
of anytime solvers in :mod:`offbench_solvers._trajectory`.
"""


from __future__ import annotations

from ._colgen import CGResult, LPSolve, column_generation
from ._paths import (THRESHOLD_RTOL, Capacities, JobPaths, PathModel, _path_stats, add_paths,
                     cheapest_paths, enumerate_paths, job_paths, lagrangian_bound,
                     lambda_grid_paths, objective_scale, placement_reduced_costs, price,
                     split_paths)
from ._repair import repair_and_improve
from ._transition import LinearModel, longest_times, safe_dual_bound, transition_model


#: Seconds the first :func:`warm_kernels` of this process took (None until it ran).
_WARMED: list = []


def warm_kernels() -> float:
    """Compile (or load from Numba's cache) every kernel that ``milp`` and ``lp-bound`` call,
    once per process, on a tiny coupled instance with deadlines; returns the seconds this call
    took (0.0 after the first).

    Why: Numba compiles a kernel on its first call, and a compile cannot be interrupted by a
    deadline. The runner's untimed warm-up solve has a 1 s limit, which a milp solve could
    spend before its path enumeration, restricted MILP or placement fixings; their kernels
    were then compiled inside the *timed* solve (6-9 s on a busy machine, 42-68 s past a 10 s
    limit under heavy load). Solving this instance through every phase in the first call
    makes the warm-up compile them all, whatever its limit.
    """
    if _WARMED:
        return 0.0
    import time

    import numpy as np

    from offbench.cost import evaluate
    from offbench.generators import random_instance

    t0 = time.perf_counter()
    inst = random_instance(7, n_devices=2, n_jobs=2, layers=(3, 3), capacities=True,
                           deadlines=True, zero_fraction=0.0)
    total = float(np.sum(inst.ops))
    inst = random_instance(7, n_devices=2, n_jobs=2, layers=(3, 3), capacities=True,
                           deadlines=True, zero_fraction=0.0, edge_capacity=0.3 * total,
                           cloud_capacity=0.3 * total)
    caps = Capacities.of(inst)
    lam = (0.5, 0.5)
    mu, _ = price(inst, lam, caps)
    lb = lagrangian_bound(mu, lam, caps)
    x0 = np.zeros(inst.n_layers, dtype=np.int8)
    ub = evaluate(inst, x0).cost
    job_paths(inst, 0, lam=lam, caps=caps)
    enumerate_paths(inst, lam, mu, ub, lb, caps=caps)
    cheapest_paths(inst, lam, mu, 3, abs(ub - lb) + 1.0, caps)
    lambda_grid_paths(inst, lam, caps, factors=(0, 1))
    placement_reduced_costs(inst, lam, mu, caps)
    repair_and_improve(inst, np.full(inst.n_layers, 2, dtype=np.int8))
    transition_model(inst, caps)
    _WARMED.append(time.perf_counter() - t0)
    return _WARMED[0]


__all__ = ["warm_kernels", "CGResult", "LPSolve", "column_generation", "THRESHOLD_RTOL", "Capacities", "JobPaths",
           "PathModel", "add_paths", "cheapest_paths", "enumerate_paths", "job_paths",
           "lagrangian_bound", "lambda_grid_paths", "objective_scale", "placement_reduced_costs",
           "price", "split_paths", "repair_and_improve", "LinearModel", "longest_times",
           "safe_dual_bound", "transition_model"]
