"""Pieces of :mod:`offbench_solvers.milp` (split from it to keep it under 700 lines; it
re-exports them): :class:`Budget` (a solve's deadline and the record of its phases),
:func:`restricted_backend` (the back end of the restricted MILP) and :func:`_with_path`."""

from __future__ import annotations

import time

import numpy as np

from offbench.cost import tables

from . import _formulation as F


def _with_path(inst, i, jp, p):
    """Job ``i``'s paths ``jp`` with path ``p`` added when missing (priced by the cost model)."""
    p = np.ascontiguousarray(p, dtype=np.int8)
    if jp.tiers.shape[0] and np.any(np.all(jp.tiers == p, axis=1)):
        return jp
    tiers, e, c, cost, T = F._path_stats(tables(inst), i, p)
    return F.JobPaths(np.vstack([jp.tiers, tiers[None, :]]), np.append(jp.e, e),
                      np.append(jp.c, c), np.append(jp.cost, cost), np.append(jp.time, T))


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
