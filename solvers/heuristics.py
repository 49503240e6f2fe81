"""The classical baselines: fixed placements, random, greedy, and Neurosurgeon's best cut.

Every solver here is a heuristic (no optimality claim, no bound) and deterministic for a seed.
All prices come from the cost model's O(1) move kernel (:func:`offbench.cost.move_delta` /
:func:`offbench.cost.apply_move` on :func:`offbench.cost.tables`): no formula is re-derived.

**Capacity repair** (shared by all-edge, all-cloud and random; :func:`repair`). While the edge or
the cloud holds more ops than its capacity, the layer on an overloaded tier whose move back to
its device costs the least *per op freed* is moved to its device; prices are exact at every
step (after a move, the neighbours of the moved layer in its chain are re-priced, and every
layer of its job when the job's tardiness is priced, since the job's time changed). Layers with
zero ops free nothing and are left where they are. The device has no capacity, so repair always
ends feasible; a decision that already fits is not touched.
"""

from __future__ import annotations

import heapq

import numpy as np

from offbench._numba import jit
from offbench.cost import apply_move, move_delta, move_state, tables
from offbench.solver import Proposal, Solver


# ------------------------------------------------------------------------------ shared kernels
@jit
def _repair_kernel(t, x, job_T, load):
    """Move layers back to their devices until the loads fit (see the module docstring).
    Returns ``(moves, pricings)``."""
    cap1 = t.cap[1]
    cap2 = t.cap[2]
    if load[1] <= cap1 and load[2] <= cap2:
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
    while (load[1] > cap1 or load[2] > cap2) and len(heap) > 0:
        _, l, v = heapq.heappop(heap)
        if v != version[l]:
            continue                               # a stale price
        k = x[l]
        if k == 0 or (k == 1 and load[1] <= cap1) or (k == 2 and load[2] <= cap2):
            continue                               # its tier fits now: leave it there
        apply_move(t, x, l, 0, job_T, load)
        moves += 1
        version[l] += 1
        i = t.layer_job[l]
        # The move changed the transfers next to l and, with a deadline, the job's time: re-price
        # the neighbours, or every layer of the job when its tardiness is priced.
        a = t.offsets[i]
        z = t.offsets[i + 1]
        if t.job_tw[i] <= 0.0:
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
    job_T = np.empty(inst.n_jobs)
    load = np.zeros(3)
    move_state(t, x, job_T, load)
    moves, priced = _repair_kernel(t, x, job_T, load)
    return x, int(moves), int(priced)


def _fixed(inst, ctx, tier: int) -> Proposal:
    x = np.full(inst.n_layers, tier, dtype=np.int8)
    y, moves, priced = repair(inst, x)
    ctx.charge(priced + 1)
    return Proposal(y, status="feasible", info={"repair_moves": moves})


# ------------------------------------------------------------------------------ fixed placements
class AllDevice(Solver):
    """Every layer on its own device (no offloading); always feasible."""

    name = "all-device"
    version = 1
    guarantee = "heuristic"

    def _solve(self, inst, ctx):
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8), status="feasible")


class AllEdge(Solver):
    """Every layer on the edge, then capacity repair.

    Repair (when the edge's capacity is smaller than the total ops): layers are moved back to
    their devices, each time the one whose move costs the least per op freed, prices exact at
    each step, until the edge load fits (see :func:`repair`). Zero-ops layers stay on the edge.
    """

    name = "all-edge"
    version = 1
    guarantee = "heuristic"

    def _solve(self, inst, ctx):
        return _fixed(inst, ctx, 1)


class AllCloud(Solver):
    """Every layer on the cloud, then capacity repair.

    Repair (when the cloud's capacity is smaller than the total ops): layers are moved back to
    their devices, each time the one whose move costs the least per op freed, prices exact at
    each step, until the cloud load fits (see :func:`repair`). Zero-ops layers stay on the cloud.
    """

    name = "all-cloud"
    version = 1
    guarantee = "heuristic"

    def _solve(self, inst, ctx):
        return _fixed(inst, ctx, 2)


class Random(Solver):
    """Each layer on a tier drawn uniformly at random (seeded), then capacity repair.

    Repair (see :func:`repair`): while a tier is overloaded, the layer on it whose move back to
    its device costs the least per op freed goes back, until the loads fit; always feasible.
    """

    name = "random"
    version = 1
    guarantee = "heuristic"

    def _solve(self, inst, ctx):
        x = ctx.rng.integers(0, 3, inst.n_layers).astype(np.int8)
        y, moves, priced = repair(inst, x)
        ctx.charge(priced + 1)
        return Proposal(y, status="feasible", info={"repair_moves": moves})


# ------------------------------------------------------------------------------ greedy
@jit
def _greedy_kernel(t, x, job_T, load):
    """Layer by layer (jobs in order, layers in order), starting from all-device: move the layer
    to the tier whose move lowers the cost most, among those with room for its ops. Returns the
    number of move prices computed."""
    cap = t.cap
    priced = 0
    for l in range(x.size):
        best = 0.0
        bk = 0
        for k in range(1, 3):
            if load[k] + t.ops[l] <= cap[k]:
                d, _ = move_delta(t, x, l, k, job_T)
                priced += 1
                if d < best:
                    best = d
                    bk = k
        if bk != 0:
            apply_move(t, x, l, bk, job_T, load)
    return priced


def greedy_decision(inst) -> tuple[np.ndarray, int]:
    """The decision of :class:`Greedy` and the number of move prices it computed."""
    t = tables(inst)
    x = np.zeros(inst.n_layers, dtype=np.int8)
    job_T = np.empty(inst.n_jobs)
    load = np.zeros(3)
    move_state(t, x, job_T, load)
    priced = _greedy_kernel(t, x, job_T, load)
    return x, int(priced)


class Greedy(Solver):
    """Myopic layer-by-layer greedy, capacity-aware; always feasible.

    Start from all-device. Visit the layers in order (jobs in file order, layers in chain
    order); move each one to the tier (edge or cloud) whose move lowers the total cost most, given
    the layers already placed and the later layers still on their devices, among the tiers
    whose remaining capacity holds the layer's ops; keep it on its device when no move lowers
    the cost. Ties go to the lower tier.
    """

    name = "greedy"
    version = 1
    guarantee = "heuristic"

    def _solve(self, inst, ctx):
        x, priced = greedy_decision(inst)
        ctx.charge(priced)
        return Proposal(x, status="feasible")


# ------------------------------------------------------------------------------ neurosurgeon
@jit
def _cut_table(t, x, job_T, load, delta, remote_ops):
    """For every job and every cut, the change of cost from all-device.

    Row ``off[i] + i + c`` of ``delta`` (``c = 0..L_i``) holds, per remote tier ``r`` (column
    ``r - 1``), the cost change of running layers ``c..L_i-1`` on tier ``r`` and the rest on the
    device; ``remote_ops`` the ops of that suffix. ``x`` must be all-device; it is restored.
    Returns the number of move prices computed.
    """
    nj = t.offsets.size - 1
    priced = 0
    for i in range(nj):
        lo = t.offsets[i]
        hi = t.offsets[i + 1]
        base = lo + i
        L = hi - lo
        acc_ops = 0.0
        remote_ops[base + L] = 0.0
        for p in range(L - 1, -1, -1):
            acc_ops += t.ops[lo + p]
            remote_ops[base + p] = acc_ops
        T0 = job_T[i]
        for r in range(1, 3):
            delta[base + L, r - 1] = 0.0
            acc = 0.0
            for p in range(L - 1, -1, -1):
                acc += apply_move(t, x, lo + p, r, job_T, load)
                priced += 1
                delta[base + p, r - 1] = acc
            for p in range(L):
                apply_move(t, x, lo + p, 0, job_T, load)
            job_T[i] = T0                 # exactly, not up to the rounding of the moves back
    return priced


@jit
def _pick_cuts(t, delta, remote_ops, order, cut, tier):
    """Give each job (in ``order``) its cheapest cut that fits the remaining capacity."""
    room1 = t.cap[1]
    room2 = t.cap[2]
    for q in range(order.size):
        i = order[q]
        lo = t.offsets[i]
        L = t.offsets[i + 1] - lo
        base = lo + i
        best = 0.0                 # all-device (cut at L) is always possible
        bc = L
        br = 0
        for r in range(1, 3):
            room = room1 if r == 1 else room2
            for c in range(L - 1, -1, -1):        # later cuts first: fewer remote layers on ties
                d = delta[base + c, r - 1]
                if d < best and remote_ops[base + c] <= room:
                    best = d
                    bc = c
                    br = r
        cut[i] = bc
        tier[i] = br
        if br == 1:
            room1 -= remote_ops[base + bc]
        elif br == 2:
            room2 -= remote_ops[base + bc]


class Neurosurgeon(Solver):
    """Neurosurgeon-style best single cut per job: a device prefix, then one remote tier.

    For every job, every cut point ``c = 0..L`` and remote tier (edge or cloud) is priced with
    the cost model (Kang et al., ASPLOS 2017, choose the split of a DNN between the mobile device
    and one server; here the criterion is this instance's cost, including energy and tardiness).
    Without capacities each job takes its cheapest cut. Capacity repair keeps the single-cut form:
    when the cheapest cuts together overload a tier, jobs are served in order of decreasing
    saving per remote op of their cheapest cut, and each takes its cheapest cut that fits what
    is left (all-device always fits).
    """

    name = "neurosurgeon"
    version = 1
    guarantee = "heuristic"

    def _solve(self, inst, ctx):
        t = tables(inst)
        nj = inst.n_jobs
        x = np.zeros(inst.n_layers, dtype=np.int8)
        job_T = np.empty(nj)
        load = np.zeros(3)
        move_state(t, x, job_T, load)
        nrow = inst.n_layers + nj
        delta = np.empty((nrow, 2))
        remote_ops = np.empty(nrow)
        priced = _cut_table(t, x, job_T, load, delta, remote_ops)
        ctx.charge(priced)
        cut = np.empty(nj, dtype=np.int64)
        tier = np.empty(nj, dtype=np.int8)
        order = np.arange(nj, dtype=np.int64)
        _pick_cuts(t, delta, remote_ops, order, cut, tier)
        suffix_ops = remote_ops[t.offsets[:-1] + np.arange(nj) + cut]
        edge = float(suffix_ops[tier == 1].sum())
        cloud = float(suffix_ops[tier == 2].sum())
        repaired = not (edge <= t.cap[1] and cloud <= t.cap[2])
        if repaired:
            saving = -delta[t.offsets[:-1] + np.arange(nj) + cut, np.maximum(tier, 1) - 1]
            per_op = np.where(suffix_ops > 0, saving / np.where(suffix_ops > 0, suffix_ops, 1.0),
                              np.inf)
            per_op[tier == 0] = -np.inf          # jobs that stay home go last (they take none)
            order = np.lexsort((np.arange(nj), -per_op)).astype(np.int64)
            _pick_cuts(t, delta, remote_ops, order, cut, tier)
        lens = inst.layers_per_job
        pos = np.arange(inst.n_layers) - np.repeat(t.offsets[:-1], lens)
        remote = pos >= np.repeat(cut, lens)
        x = np.where(remote, np.repeat(tier, lens), 0).astype(np.int8)
        return Proposal(x, status="feasible", info={"capacity_repair": repaired,
                                                    "offloading_jobs": int(np.sum(tier > 0))})
