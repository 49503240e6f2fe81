"""Incumbent trajectories: what an anytime solver had found, and when (issue 13's quality
against time).

A solver that improves a decision over time (``milp``, ``local-search``) records each new
incumbent with :meth:`Trajectory.record`: the time since its solve started (its own clock), the
cost it claims and the decision itself. :meth:`Trajectory.to_info` puts the record into the
solve's ``info["trajectory"]`` as ``{"t": [...], "cost": [...], "decision": ["0121...", ...]}``
(times non-decreasing, claimed costs strictly decreasing, decisions as digit strings like the
stored decision).

Claims only. The referee (:func:`offbench.run.referee.judge`) prices every recorded decision
with the runner's cost model, replaces the costs by its own, flags a trajectory whose claims do
not hold, and stores the priced points (without the decisions) with the row.

Bounded in size: at most :data:`MAX_POINTS` points, thinned geometrically in time (a point is
kept when its time is at least ``ratio`` times that of the previous kept one, ``ratio`` grown
until the points fit), the first and the last (best) point always kept. While recording, the
list is thinned each time it doubles past the bound, so a long run holds at most
``2 * MAX_POINTS`` decisions.
"""

from __future__ import annotations

import math
import time

import numpy as np

#: Most points a trajectory keeps.
MAX_POINTS = 64
#: Times below this (seconds) count as this for geometric thinning.
_T_FLOOR = 1e-4


def decision_text(x: np.ndarray) -> str:
    """A decision as its digit string (one tier per layer), as the store writes it."""
    return (np.asarray(x, dtype=np.uint8) + ord("0")).tobytes().decode("ascii")


def thin(points: list, max_points: int = MAX_POINTS) -> list:
    """``points`` (tuples whose first item is the time, non-decreasing) reduced to at most
    ``max_points``, spaced geometrically in time; the first and last are always kept."""
    if len(points) <= max_points:
        return list(points)
    if max_points < 2:
        return [points[-1]]
    ratio = 1.0
    while True:
        ratio = ratio * 1.25 + 1e-3
        kept = [points[0]]
        for p in points[1:-1]:
            if max(p[0], _T_FLOOR) >= ratio * max(kept[-1][0], _T_FLOOR):
                kept.append(p)
        kept.append(points[-1])
        if len(kept) <= max_points:
            return kept


class Trajectory:
    """The record of one solve's incumbents (module docstring).

    Parameters
    ----------
    start : float
        The solve's start on ``clock`` (``time.perf_counter()`` by default); None: now.
    max_points : int
        The bound on the kept points.
    """

    def __init__(self, start: float | None = None, *, clock=None,
                 max_points: int = MAX_POINTS):
        # Looked up at each call, so that a test's clock (``time.perf_counter`` patched) rules.
        self.clock = clock or (lambda: time.perf_counter())
        self.start = clock() if start is None else float(start)
        self.max_points = int(max_points)
        self.points: list[tuple[float, float, str]] = []

    @property
    def best(self) -> float:
        """The best cost recorded so far (``inf`` when none)."""
        return self.points[-1][1] if self.points else math.inf

    def record(self, x: np.ndarray, cost: float) -> bool:
        """Record decision ``x`` of cost ``cost`` (the caller's pricing) if it improves on the
        last point; returns whether it was recorded."""
        cost = float(cost)
        if not math.isfinite(cost) or cost >= self.best:
            return False
        t = max(0.0, self.clock() - self.start)
        if self.points and t < self.points[-1][0]:
            t = self.points[-1][0]
        self.points.append((t, cost, decision_text(x)))
        if len(self.points) > 2 * self.max_points:
            self.points = thin(self.points, self.max_points)
        return True

    def to_info(self) -> dict:
        """The points (thinned to ``max_points``) as ``{"t", "cost", "decision"}`` lists."""
        pts = thin(self.points, self.max_points)
        return {"t": [p[0] for p in pts], "cost": [p[1] for p in pts],
                "decision": [p[2] for p in pts]}
