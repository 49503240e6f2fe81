"""Candidate pricing: a learner's own candidate decisions, priced by the cost model.

A learner that needs labels makes them itself: it proposes candidates, prices them all in one
:meth:`~offbench.solver.Context.evaluate_many` call per frame (every candidate charged as one
evaluation, so the evaluations column shows what the labels cost), and keeps the best.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pricing:
    """The prices of a batch of candidates.

    ``costs`` are the cost model's; ``scored`` is ``costs`` where feasible and ``inf`` where
    not (an infeasible candidate is never the best); ``best`` is the index of the cheapest
    feasible candidate (the first on ties), or -1 when none is feasible.
    """

    costs: np.ndarray
    feasible: np.ndarray
    scored: np.ndarray
    best: int

    @property
    def best_cost(self) -> float:
        return float(self.scored[self.best]) if self.best >= 0 else float("inf")


def price(ctx, candidates) -> Pricing:
    """Price candidates ``(m, n_layers)`` (int8 tiers) in one charged call.

    Parameters
    ----------
    ctx : offbench.solver.Context
        The context of the frame; ``m`` evaluations are charged to it.
    candidates : array_like, shape (m, n_layers)
    """
    X = np.ascontiguousarray(candidates, dtype=np.int8)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"candidates must be a non-empty (m, n_layers) array, got shape {X.shape}")
    costs, feasible, _ = ctx.evaluate_many(X, with_feasibility=True)
    scored = np.where(feasible, costs, np.inf)
    best = int(np.argmin(scored)) if feasible.any() else -1
    return Pricing(costs, feasible, scored, best)
