"""Local search: first-improvement descent over single-layer moves, with seeded restarts.

The descent is :func:`offbench_solvers._repair.descend` (shared with milp and lp-bound): a
*move* puts one layer on another tier; it is priced by the cost model's move kernel (O(1) for a
chain's layer, O(degree) for a node of a DAG job: SPEC.md section 7) and taken at once (first
improvement) when it lowers the cost by more than a relative ``1e-12`` (so rounding noise cannot
make it cycle) and keeps the decision feasible (the destination tier still fits, by the cost
model's capacity test; the device always does). The layers are scanned
cyclically, job by job in a random order of the jobs (drawn per restart from the seed) and each
job's layers in chain order (which keeps the coefficient tables in cache; a DAG job's nodes in
file order); the descent ends at a local optimum: a full cycle over the layers without an
improving move.

Restarts: the first descent starts from the greedy decision (:class:`offbench_solvers.heuristics.
Greedy`), the second from all-device, and the others from random decisions made feasible by the
capacity repair of :mod:`offbench_solvers._repair`. The best local optimum is returned; its
cost is priced again from scratch at the end of each descent, so the running sum of move deltas
never decides between restarts.

DAG jobs (``handles_dag``, SPEC.md section 7): the same moves and repair (after a move the
repair re-prices every node of a DAG job). On a DAG a single node rarely pays for its move alone
(its input must come up and its outputs go down to its consumers), so from greedy or all-device
a descent mostly stays where it is. On an instance with DAG jobs the first descent therefore
starts from the *best single tier per job* (each job wholly on the tier where the cost model's
job walk prices it lowest, ties to the lower tier; made feasible by the repair), then greedy,
all-device and random starts follow as above. Instances whose jobs are all chains keep the
order above (their answers are unchanged).

A time limit stops the search between batches of moves (status ``timeout``, best so far).

``info["trajectory"]`` (:mod:`offbench_solvers._trajectory`): every new best decision with the
time since the solve started, after each batch of moves and at the end of each descent (at
most 64 points, thinned geometrically in time); the referee prices each one.
"""

from __future__ import annotations

import numpy as np

from offbench._numba import jit
from offbench.cost import (decision_cost, job_cost, move_state, new_move_state, path_walk,
                           tables)
from offbench.solver import Param, Proposal, Solver

from ._repair import descend, repair_kernel
from ._trajectory import Trajectory
from .heuristics import greedy_decision

#: Move prices per kernel call; the clock is checked between calls.
BATCH = 1 << 20


def _job_order(offsets: np.ndarray, jobs: np.ndarray) -> np.ndarray:
    """The layers of ``jobs`` (in that order), each job's layers in chain order."""
    lens = np.diff(offsets)[jobs]
    starts = np.repeat(offsets[:-1][jobs] - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    return (starts + np.arange(int(lens.sum()))).astype(np.int64)


@jit
def single_tier_start(t, x):
    """Put each job wholly on the tier where its cost (:func:`offbench.cost.path_walk`, tardiness
    included) is lowest, ties to the lower tier, in ``x`` (capacities not looked at). Returns
    the number of job walks priced."""
    nj = t.offsets.size - 1
    p = np.zeros(0, dtype=np.int8)
    for i in range(nj):
        a = t.offsets[i]
        z = t.offsets[i + 1]
        if p.size < z - a:
            p = np.zeros(z - a, dtype=np.int8)
        best = np.inf
        bk = 0
        for k in range(3):
            p[:] = k
            C, T = path_walk(t, i, p)
            c = job_cost(t, i, C, T)
            if c < best:
                best = c
                bk = k
        x[a:z] = bk
    return 3 * nj


class LocalSearch(Solver):
    """First-improvement local search over single-layer moves, with seeded random restarts.

    Feasibility-preserving: it starts from feasible decisions and only takes moves that keep the
    capacities. See the module docstring for the move rule, the order and the starts.
    """

    name = "local-search"
    version = 1
    guarantee = "heuristic"
    reference_role = "incumbent"
    reference_rank = 20
    handles_dag = True
    params = (
        Param("restarts", int, 8, low=1, high=10**6,
              doc="descents: from greedy, from all-device, then from random repaired decisions "
                  "(on DAG instances the best single tier per job first)"),
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
        job_T, load = new_move_state(inst, np.zeros(n, dtype=np.int8))
        traj = Trajectory(ctx.started)
        dag = bool(inst.is_dag)
        for r in range(self.restarts):
            s = r - 1 if dag else r              # DAG instances: the single-tier start first
            if s == -1:
                x = np.zeros(n, dtype=np.int8)
                ctx.charge(single_tier_start(t, x))
            elif s == 0:
                x, priced = greedy_decision(inst)
                ctx.charge(priced)
            elif s == 1:
                x = np.zeros(n, dtype=np.int8)
            else:
                x = ctx.rng.integers(0, 3, n).astype(np.int8)
            order = _job_order(t.offsets, ctx.rng.permutation(nj))
            move_state(t, x, job_T, load)
            if s == -1 or s >= 2:
                _, priced = repair_kernel(t, x, job_T, load)
                ctx.charge(priced)
            cost = np.array([decision_cost(t, x)])
            ctx.charge(1)
            state = np.zeros(2, dtype=np.int64)
            done = False
            while not done:
                if ctx.out_of_time():
                    timed_out = True
                    break
                prices, moves, done = descend(t, x, job_T, load, order, state, cost, BATCH)
                ctx.charge(prices)
                total_moves += moves
                if not done and cost[0] < traj.best:
                    traj.record(x, cost[0])          # the running cost: the referee prices it
            c = float(decision_cost(t, x))
            ctx.charge(1)
            if c < best:
                best = c
                best_x = x.copy()
            traj.record(x, c)
            if timed_out:
                break
            descents += 1
        info = {"descents": descents, "moves": total_moves, "trajectory": traj.to_info()}
        return Proposal(best_x, status="timeout" if timed_out else "feasible", info=info)
