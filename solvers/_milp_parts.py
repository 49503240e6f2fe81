"""Pieces of :mod:`offbench_solvers.milp` (split from it to keep it under 700 lines; it
re-exports them): :class:`Budget` (a solve's deadline and the record of its phases),
:func:`restricted_incumbent` (the restricted MILP) and :func:`restricted_backend` (its back
end), :func:`_with_path`,
:class:`Round` (what one round of the proof's back end finds, priced as it finds it),
:class:`BoundTrajectory` (the certified bound over time), :func:`lowered_bound` and
:func:`time_to_gap`."""

from __future__ import annotations

import math
import time

import numpy as np

from offbench.cost import evaluate, tables

from . import _formulation as F
from ._backends import FEAS_TOL, MIP_GAP, solve_linear, solve_paths_cpsat
from ._trajectory import MAX_POINTS, thin


def _with_path(inst, i, jp, p):
    """Job ``i``'s paths ``jp`` with path ``p`` added when missing (priced by the cost model)."""
    p = np.ascontiguousarray(p, dtype=np.int8)
    if jp.tiers.shape[0] and np.any(np.all(jp.tiers == p, axis=1)):
        return jp
    tiers, e, c, cost, T = F._path_stats(tables(inst), i, p)
    return F.JobPaths(np.vstack([jp.tiers, tiers[None, :]]), np.append(jp.e, e),
                      np.append(jp.c, c), np.append(jp.cost, cost), np.append(jp.time, T))


#: The restricted MILP (an incumbent only): its share of the time left, and its node limit.
RESTRICTED_SHARE = 0.2
RESTRICTED_NODES = 1000


def restricted_incumbent(solver, inst, ctx, cg, caps, x_lp, x_inc, budget, info):
    """milp's restricted MILP (``solver``: the :class:`~offbench_solvers.milp.MILP`), a primal
    heuristic: the path MILP over a few paths per job, chosen for diversity
    of loads: the column generation's paths, each job's priced-optimal paths for a grid of
    multipliers around ``lam``, its 10 paths of least reduced cost (:func:`cheapest_paths`),
    the all-device path,
    and the paths of the decisions so far. Solved by :func:`restricted_backend` (SCIP for
    OR-Tools' HiGHS; highspy itself; both with the incumbent as a hint) to a relative gap
    of 1e-4 within 1,000 nodes (HiGHS, SCIP; CP-SAT: 2 units of deterministic time), so that
    a seed gives the same incumbent on any machine load, and within 20 % of the time left:
    its answer is only an incumbent."""
    deadline = budget.deadline
    grid = F.lambda_grid_paths(inst, cg.lam, caps, deadline=deadline)
    ub = evaluate(inst, x_inc).cost
    spread = min(0.05 * abs(cg.bound), max(0.0, ub - cg.bound)) + 1e-12
    base = F.cheapest_paths(inst, cg.lam, cg.mu, 10, spread, caps,
                            max_labels=min(solver.max_labels, 2_000), deadline=deadline)
    extra = [grid[i] + list(cg.model.jobs[i].tiers) + [np.zeros(int(L), dtype=np.int8)]
             for i, L in enumerate(inst.layers_per_job)]
    for x in (x_lp, x_inc):
        for i, p in enumerate(F.split_paths(inst, x)):
            extra[i].append(p)
    small = F.add_paths(base, extra, inst)
    info["restricted_columns"] = small.n_columns
    left = budget.left()
    limit = min(60.0, RESTRICTED_SHARE * left) if math.isfinite(left) else 60.0
    if limit <= 0.01:
        return None
    # Its own deadline, counted from now: model building is inside it.
    stop = time.perf_counter() + limit
    if solver.backend == "cp-sat":
        out, _ = solve_paths_cpsat(small, time_limit=limit, threads=solver.threads,
                                   seed=ctx.seed, hint_cols=small.columns_of(x_inc),
                                   deterministic_limit=2.0, deadline=stop)
    else:
        obj, A, lo, hi = small.arrays()
        n = obj.size
        backend = restricted_backend(solver.backend)
        hint = None
        cols = small.columns_of(x_inc)
        if cols is not None:
            hint = np.zeros(n)
            hint[cols] = 1.0
        info["restricted_backend"] = backend
        out = solve_linear(backend, obj, A, lo, hi, np.zeros(n), np.ones(n),
                           np.ones(n, dtype=bool), time_limit=limit, threads=solver.threads,
                           seed=ctx.seed, gap=1e-4, node_limit=RESTRICTED_NODES, hint=hint,
                           deadline=stop)
    info["restricted_status"] = out.status
    if out.values is None:
        return None
    return small.decision(small.choose(out.values))


def restricted_backend(backend: str) -> str:
    """The back end of the restricted MILP (an incumbent only): SCIP when the proof's back end
    is HiGHS through OR-Tools (``highs``) and OR-Tools has SCIP, else the proof's own. SCIP
    takes the incumbent as a hint, which OR-Tools' HiGHS interface cannot; on the tuning seeds
    of the milp-scale set HiGHS's restricted MILP often stopped at its time share with nothing
    better than the LP rounding (incumbents up to 13 % above the optimum), where SCIP's landed
    within 0.2 %. ``highspy`` takes the hint itself (``setSolution``)."""
    if backend == "highs" and _scip_available():
        return "scip"
    return backend


_SCIP: list = []


def _scip_available() -> bool:
    if not _SCIP:
        from ortools.linear_solver.python import model_builder as mb
        _SCIP.append(bool(mb.Solver("scip").solver_is_supported()))
    return _SCIP[0]


# ------------------------------------------------------------------------------ the deadline
class Budget:
    """A solve's deadline and the record of its phases (``info["phases"]``: name -> ``[start,
    end]`` in seconds since the solve started; ``info["phases_skipped"]``: the phases not
    entered because the deadline had passed).

    Every phase of :meth:`MILP._solve` is entered through :meth:`enter`, which refuses once the
    deadline has passed, so no phase *starts* late; inside a phase the deadline is checked
    between its steps (per column-generation round, per job of an enumeration, per fixing of a
    job), and a back end gets the time left when it starts as its own limit. The clock is
    ``time.perf_counter``, looked up at each call (a test may substitute it).
    """

    def __init__(self, start: float, deadline: float):
        self.start = float(start)
        self.deadline = float(deadline)
        self.phases: dict[str, list] = {}
        self.skipped: list[str] = []

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def expired(self) -> bool:
        return time.perf_counter() >= self.deadline

    def enter(self, name: str) -> bool:
        """Start phase ``name`` unless the deadline has passed (then it is recorded as skipped)."""
        now = time.perf_counter()
        if now >= self.deadline:
            self.skipped.append(name)
            return False
        self.phases[name] = [now - self.start, None]
        return True

    def leave(self, name: str) -> None:
        self.phases[name][1] = time.perf_counter() - self.start


# ------------------------------------------------------------------------------ rounds and bounds
def lowered_bound(v: float, obj_scale: float, n_jobs: int) -> float:
    """A MILP back end's dual bound ``v`` (in units of ``obj_scale``) in original units, lowered
    by the back end's tolerances: ``MIP_GAP`` of the bound plus ``FEAS_TOL`` objective units per
    job (milp's docstring, "Exactness and what is reported")."""
    b = v * obj_scale
    return b - (MIP_GAP * abs(b) + FEAS_TOL * (n_jobs + 1) * obj_scale)


class Round:
    """One round of milp's steps 3-4 as its back end runs: every improving solution HiGHS finds
    (highspy's ``on_solution``) is decoded (``decode``, set once the model is built), priced by
    the cost model, recorded in the trajectory at the time it is found, and kept when it is the
    round's best (``best_x``, ``best_cost``); it asks for a restart when its cost is at most
    ``restart`` and below the round's incumbent ``inc_cost`` (None: never)."""

    def __init__(self, inst, ctx, traj, inc_cost: float, restart: float | None):
        self.inst, self.ctx, self.traj = inst, ctx, traj
        self.inc_cost = float(inc_cost)
        self.restart = restart
        self.decode = None
        self.best_x = None
        self.best_cost = float(inc_cost)

    def __call__(self, v) -> bool:
        x = self.decode(v)
        ev = evaluate(self.inst, x)
        self.ctx.charge(1)
        if not ev.feasible:
            return False
        self.traj.record(x, ev.cost)
        if ev.cost < self.best_cost:
            self.best_x, self.best_cost = x, ev.cost
        return self.restart is not None and ev.cost <= self.restart and ev.cost < self.inc_cost


class BoundTrajectory:
    """The certified lower bound over time (``info["bound_trajectory"]``: ``{"t", "bound"}``,
    seconds since the solve started and bounds, both increasing): the Lagrangian bound when the
    column generation ends, the back end's dual bound while it runs (sampled by highspy, lowered
    as :func:`lowered_bound`, at most the incumbent the round's model was built around, which
    every decision left out of the model costs more than), and the final ``bound``. Thinned like
    the incumbents' trajectory (:func:`offbench_solvers._trajectory.thin`) for ``info``; a
    thinned record can only put a crossing later, never earlier."""

    def __init__(self, start: float):
        self.start = float(start)
        self.points: list[tuple[float, float]] = []

    def add(self, when: float, bound) -> None:
        """Bound ``bound`` certified at ``when`` (a ``time.perf_counter()`` value); kept when it
        rises."""
        if bound is None or not math.isfinite(bound):
            return
        if self.points and bound <= self.points[-1][1]:
            return
        t = max(0.0, when - self.start, self.points[-1][0] if self.points else 0.0)
        self.points.append((t, float(bound)))

    def to_info(self) -> dict:
        pts = thin(self.points, MAX_POINTS)
        return {"t": [p[0] for p in pts], "bound": [p[1] for p in pts]}


def time_to_gap(incumbents, bounds, gap: float) -> float | None:
    """The first time at which ``(best incumbent so far - best bound so far) / |incumbent|``
    is at most ``gap``, from ``incumbents`` (``[(t, cost), ...]``) and ``bounds`` (``[(t,
    bound), ...]``), both in order of time; None when it never is."""
    events = sorted([(float(t), 0, float(c)) for t, c in incumbents]
                    + [(float(t), 1, float(b)) for t, b in bounds])
    inc, lb = math.inf, -math.inf
    for t, kind, v in events:
        if kind == 0:
            inc = min(inc, v)
        else:
            lb = max(lb, v)
        if math.isfinite(inc) and math.isfinite(lb):
            if inc - lb <= gap * abs(inc):
                return t
    return None
