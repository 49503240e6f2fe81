"""Local search: first-improvement descent over single-layer moves, with seeded restarts.

A *move* puts one layer on another tier; it is priced in O(1) by the cost model's move kernel
(:func:`offbench.cost.move_delta` / :func:`offbench.cost.apply_move`) and taken at once
(first improvement) when it lowers the cost by more than a relative ``1e-12`` (so rounding
noise cannot make it cycle) and keeps the decision feasible (the destination tier has room for
the layer's ops; the device always has). The layers are scanned cyclically, job by job in a
random order of the jobs (drawn per restart from the seed) and each job's layers in chain order
(which keeps the coefficient tables in cache), the two other tiers of a layer in increasing
order; the descent ends at a local optimum: a full cycle over the layers without an improving
move.

Restarts: the first descent starts from the greedy decision (:class:`offbench_solvers.heuristics.
Greedy`), the second from all-device, and the others from random decisions made feasible by the
capacity repair of :mod:`offbench_solvers.heuristics`. The best local optimum is returned; its
cost is priced again from scratch at the end of each descent, so the running sum of move deltas
never decides between restarts.

A time limit stops the search between batches of moves (status ``timeout``, best so far).
"""

from __future__ import annotations

import numpy as np

from offbench._numba import jit
from offbench.cost import apply_move, decision_cost, move_delta, move_state, tables
from offbench.solver import Param, Proposal, Solver
from offbench_solvers.heuristics import _repair_kernel, greedy_decision

#: Move prices per kernel call; the clock is checked between calls.
BATCH = 1 << 20
#: A move must lower the cost by more than this fraction of the current cost.
RTOL = 1e-12


@jit
def _descend(t, x, job_T, load, order, state, cost, budget):
    """Run the descent for at most ``budget`` move prices, resuming from ``state``.

    ``state[0]`` is the position in ``order``, ``state[1]`` the number of layers scanned since
    the last improvement; ``cost[0]`` the running cost. Returns ``(prices, moves, done)``.
    """
    n = x.size
    cap = t.cap
    pos = state[0]
    idle = state[1]
    c = cost[0]
    prices = 0
    moves = 0
    done = False
    while prices < budget:
        if idle >= n:
            done = True
            break
        l = order[pos]
        pos += 1
        if pos == n:
            pos = 0
        idle += 1
        old = x[l]
        for s in range(1, 3):
            k = old + s
            if k >= 3:
                k -= 3
            if k != 0 and load[k] + t.ops[l] > cap[k]:
                continue
            d, _ = move_delta(t, x, l, k, job_T)
            prices += 1
            if d < -RTOL * abs(c):
                c += apply_move(t, x, l, k, job_T, load)
                moves += 1
                idle = 0
                break
    state[0] = pos
    state[1] = idle
    cost[0] = c
    return prices, moves, done


def _job_order(offsets: np.ndarray, jobs: np.ndarray) -> np.ndarray:
    """The layers of ``jobs`` (in that order), each job's layers in chain order."""
    lens = np.diff(offsets)[jobs]
    starts = np.repeat(offsets[:-1][jobs] - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    return (starts + np.arange(int(lens.sum()))).astype(np.int64)


class LocalSearch(Solver):
    """First-improvement local search over single-layer moves, with seeded random restarts.

    Feasibility-preserving: it starts from feasible decisions and only takes moves that keep the
    capacities. See the module docstring for the move rule, the order and the starts.
    """

    name = "local-search"
    version = 1
    guarantee = "heuristic"
    params = (
        Param("restarts", int, 8, low=1, high=10**6,
              doc="descents: from greedy, from all-device, then from random repaired decisions"),
    )

    def _solve(self, inst, ctx):
        t = tables(inst)
        n = inst.n_layers
        nj = inst.n_jobs
        best_x = None
        best = np.inf
        descents = 0
        total_moves = 0
        timed_out = False
        job_T = np.empty(nj)
        load = np.zeros(3)
        for r in range(self.restarts):
            if r == 0:
                x, priced = greedy_decision(inst)
                ctx.charge(priced)
            elif r == 1:
                x = np.zeros(n, dtype=np.int8)
            else:
                x = ctx.rng.integers(0, 3, n).astype(np.int8)
            order = _job_order(t.offsets, ctx.rng.permutation(nj))
            move_state(t, x, job_T, load)
            if r >= 2:
                _, priced = _repair_kernel(t, x, job_T, load)
                ctx.charge(priced)
            cost = np.array([decision_cost(t, x)])
            ctx.charge(1)
            state = np.zeros(2, dtype=np.int64)
            done = False
            while not done:
                if ctx.out_of_time():
                    timed_out = True
                    break
                prices, moves, done = _descend(t, x, job_T, load, order, state, cost, BATCH)
                ctx.charge(prices)
                total_moves += moves
            c = float(decision_cost(t, x))
            ctx.charge(1)
            if c < best:
                best = c
                best_x = x.copy()
            if timed_out:
                break
            descents += 1
        info = {"descents": descents, "moves": total_moves}
        return Proposal(best_x, status="timeout" if timed_out else "feasible", info=info)
