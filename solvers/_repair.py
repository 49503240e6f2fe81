"""Shared solver pieces over single-layer moves: the capacity repair and the first-improvement
descent. One copy each; the heuristics, local search, milp (incumbents) and lp-bound (rounding)
import them.

Every price comes from the cost model's O(1) move kernel (:func:`offbench.cost.move_delta` /
:func:`offbench.cost.apply_move`) and every capacity test from :func:`offbench.cost.fits_state`,
:func:`offbench.cost.tier_fits` and :func:`offbench.cost.move_fits` on a move state (exact:
the loads that decide are the cost model's, never a drifted running sum).

**Capacity repair** (:func:`repair`). While the edge or the cloud holds more ops than its
capacity, the layer on an overloaded tier whose move back to its device costs the least *per op
freed* is moved to its device; prices are exact at every step (after a move, the neighbours of
the moved layer in its chain are re-priced, and every layer of its job when the job's tardiness
is priced, since the job's time changed, or when the job is a DAG). Layers with zero ops free
nothing and stay where they are (also on a switched-off tier, where they are allowed). The
device has no capacity, so repair always ends feasible; a decision that already fits is not
touched.

**Descent** (:func:`descend`). A move puts one layer on another tier; it is taken at once (first
improvement) when it lowers the cost by more than a relative ``RTOL`` of the running cost (so
rounding noise cannot make it cycle) and the destination tier still fits
(:func:`offbench.cost.move_fits`). The layers are scanned cyclically in a given order, the two
other tiers of a layer in increasing order (``x + 1``, ``x + 2`` mod 3); the descent ends at a
local optimum: a full cycle over the layers without an improving move.
"""

from __future__ import annotations

import heapq

import numpy as np

from offbench._numba import jit
from offbench.cost import (apply_move, decision_cost, fits_state, move_delta, move_fits,
                           new_move_state, tables, tier_fits)

#: A move must lower the cost by more than this fraction of the current cost.
RTOL = 1e-12


@jit
def repair_kernel(t, x, job_T, load):
    """Move layers back to their devices until the loads fit (module docstring); ``load`` is a
    move state. Returns ``(moves, pricings)``."""
    if fits_state(t, x, load):
        return 0, 0
    n = x.size
    version = np.zeros(n, dtype=np.int64)
    heap = [(0.0, np.int64(0), np.int64(0))]
    heap.pop()
    priced = 0
    for l in range(n):
        k = x[l]
        if k != 0 and t.ops[l] > 0.0:
            d, _ = move_delta(t, x, l, 0, job_T)
            priced += 1
            heap.append((d / t.ops[l], np.int64(l), np.int64(0)))
    heapq.heapify(heap)
    moves = 0
    while len(heap) > 0 and not fits_state(t, x, load):
        _, l, v = heapq.heappop(heap)
        if v != version[l]:
            continue                               # a stale price
        k = x[l]
        if k == 0 or tier_fits(t, x, load, k):
            continue                               # its tier fits now: leave it there
        apply_move(t, x, l, 0, job_T, load)
        moves += 1
        version[l] += 1
        i = t.layer_job[l]
        # The move changed the transfers next to l and, with a deadline, the job's time: re-price
        # the neighbours, or every layer of the job when its tardiness is priced or when it is a
        # DAG job (its neighbours are not l - 1 and l + 1).
        a = t.offsets[i]
        z = t.offsets[i + 1]
        if t.job_tw[i] <= 0.0 and t.job_dag[i] == 0:
            a = max(a, l - 1)
            z = min(z, l + 2)
        for m in range(a, z):
            if x[m] != 0 and t.ops[m] > 0.0:
                version[m] += 1
                d, _ = move_delta(t, x, m, 0, job_T)
                priced += 1
                heapq.heappush(heap, (d / t.ops[m], np.int64(m), version[m]))
    return moves, priced


def repair(inst, x: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Make a decision fit the capacities by moving layers back to their devices.

    Parameters
    ----------
    inst : Instance
    x : int8 array, shape (n_layers,)
        A decision; not modified.

    Returns
    -------
    decision : int8 array
        Feasible (see the module docstring for the rule).
    moves : int
        Layers moved back to their device.
    pricings : int
        Move prices computed (cost-model evaluations of one move each).
    """
    t = tables(inst)
    x = np.array(x, dtype=np.int8)
    job_T, load = new_move_state(inst, x)
    moves, priced = repair_kernel(t, x, job_T, load)
    return x, int(moves), int(priced)


@jit
def descend(t, x, job_T, load, order, state, cost, budget):
    """Run the descent (module docstring) for at most ``budget`` move prices, resuming from
    ``state``; ``x`` must fit and ``load`` is its move state.

    ``state[0]`` is the position in ``order``, ``state[1]`` the number of layers scanned since
    the last improvement; ``cost[0]`` the running cost. Returns ``(prices, moves, done)``.
    """
    n = x.size
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
            if not move_fits(t, x, load, l, k):
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


def repair_and_improve(inst, x: np.ndarray) -> tuple[np.ndarray, int]:
    """Make ``x`` feasible (:func:`repair`) and improve it by :func:`descend` to a local
    optimum, layers in index order; returns the new decision and the move prices spent."""
    t = tables(inst)
    x = np.array(x, dtype=np.int8)
    job_T, load = new_move_state(inst, x)
    _, tried = repair_kernel(t, x, job_T, load)
    order = np.arange(x.size, dtype=np.int64)
    state = np.zeros(2, dtype=np.int64)
    cost = np.array([decision_cost(t, x)])
    done = False
    while not done:
        prices, _, done = descend(t, x, job_T, load, order, state, cost, 1 << 30)
        tried += prices
    return x, int(tried)
