"""The classical baselines: fixed placements, random, greedy, and Neurosurgeon's best cut.

Every solver here is a heuristic (no optimality claim, no bound) and deterministic for a seed.
All prices come from the cost model's move kernel (:func:`offbench.cost.move_delta` /
:func:`offbench.cost.apply_move` on :func:`offbench.cost.tables`; O(1) for a chain's layer,
O(degree) for a DAG node): no formula is re-derived.

DAG jobs (SPEC.md section 7). Every solver here handles them (``handles_dag``): a decision is
still one tier per node, and the move kernel prices a node's move with its shared output, its
input and its edges' own messages. "In order" means the nodes' file order, which the families
write in an execution (topological) order; for a chain it is the chain order.

**Capacity repair** (all-edge, all-cloud and random): :func:`offbench_solvers._repair.repair`.
While the edge or the cloud holds more ops than its capacity, the layer on an overloaded tier
whose move back to its device costs the least *per op freed* is moved to its device; prices are
exact at every step. Layers with zero ops free nothing and are left where they are. The device
has no capacity, so repair always ends feasible; a decision that already fits is not touched.
Every capacity test is the cost model's (:func:`offbench.cost.fits` and its move-state forms).
"""

from __future__ import annotations

import numpy as np

from offbench._numba import jit
from offbench.cost import apply_move, block_fits, move_delta, move_fits, new_move_state, tables
from offbench.solver import Proposal, Solver

from ._repair import repair


class _FixedTier(Solver):
    """Every layer on tier ``tier``, then capacity repair (a base: not a solver itself)."""

    tier = 0
    version = 1
    guarantee = "heuristic"
    handles_dag = True

    def _solve(self, inst, ctx):
        x = np.full(inst.n_layers, self.tier, dtype=np.int8)
        y, moves, priced = repair(inst, x)
        ctx.charge(priced + 1)
        return Proposal(y, status="feasible", info={"repair_moves": moves})


# ------------------------------------------------------------------------------ fixed placements
class AllDevice(Solver):
    """Every layer on its own device (no offloading); always feasible."""

    name = "all-device"
    version = 1
    guarantee = "heuristic"
    handles_dag = True

    def _solve(self, inst, ctx):
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8), status="feasible")


class AllEdge(_FixedTier):
    """Every layer on the edge, then capacity repair.

    Repair (when the edge's capacity is smaller than the total ops): layers are moved back to
    their devices, each time the one whose move costs the least per op freed, prices exact at
    each step, until the edge load fits (see :func:`repair`). Zero-ops layers stay on the edge.
    """

    name = "all-edge"
    tier = 1


class AllCloud(_FixedTier):
    """Every layer on the cloud, then capacity repair.

    Repair (when the cloud's capacity is smaller than the total ops): layers are moved back to
    their devices, each time the one whose move costs the least per op freed, prices exact at
    each step, until the cloud load fits (see :func:`repair`). Zero-ops layers stay on the cloud.
    """

    name = "all-cloud"
    tier = 2


class Random(Solver):
    """Each layer on a tier drawn uniformly at random (seeded), then capacity repair.

    Repair (see :func:`repair`): while a tier is overloaded, the layer on it whose move back to
    its device costs the least per op freed goes back, until the loads fit; always feasible.
    """

    name = "random"
    version = 1
    guarantee = "heuristic"
    handles_dag = True

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
    priced = 0
    for l in range(x.size):
        best = 0.0
        bk = 0
        for k in range(1, 3):
            if move_fits(t, x, load, l, k):
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
    job_T, load = new_move_state(inst, x)
    priced = _greedy_kernel(t, x, job_T, load)
    return x, int(priced)


class Greedy(Solver):
    """Myopic layer-by-layer greedy, capacity-aware; always feasible.

    Start from all-device. Visit the layers in order (jobs in file order, layers in chain
    order; a DAG job's nodes in file order); move each one to the tier (edge or cloud) whose
    move lowers the total cost most, given the layers already placed and the later layers still
    on their devices, among the tiers whose remaining capacity holds the layer's ops; keep it on
    its device when no move lowers the cost. Ties go to the lower tier. On a DAG a single node
    rarely pays for its move alone (its input must come up and its output go down): greedy is
    the myopic baseline it is on chains.
    """

    name = "greedy"
    version = 1
    guarantee = "heuristic"
    handles_dag = True
    reference_role = "check"

    def _solve(self, inst, ctx):
        x, priced = greedy_decision(inst)
        ctx.charge(priced)
        return Proposal(x, status="feasible")


# ------------------------------------------------------------------------------ neurosurgeon
@jit
def _cut_table(t, x, job_T, load, delta):
    """For every job and every cut, the change of cost from all-device.

    Row ``off[i] + i + c`` of ``delta`` (``c = 0..L_i``) holds, per remote tier ``r`` (column
    ``r - 1``), the cost change of running layers ``c..L_i-1`` on tier ``r`` and the rest on the
    device. ``x`` must be all-device; it is restored.
    Returns the number of move prices computed.
    """
    nj = t.offsets.size - 1
    priced = 0
    for i in range(nj):
        lo = t.offsets[i]
        hi = t.offsets[i + 1]
        base = lo + i
        L = hi - lo
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
def _pick_cuts(t, delta, order, cut, tier, x, job_T, load, capacitated):
    """Give each job (in ``order``) its cheapest cut that fits the remaining capacity (every cut
    when not ``capacitated``), writing it into ``x`` (all-device on entry; ``load`` its move
    state). The capacity test is the cost model's (:func:`offbench.cost.block_fits`)."""
    for q in range(order.size):
        i = order[q]
        lo = t.offsets[i]
        hi = t.offsets[i + 1]
        L = hi - lo
        base = lo + i
        best = 0.0                 # all-device (cut at L) is always possible
        bc = L
        br = 0
        for r in range(1, 3):
            for c in range(L - 1, -1, -1):        # later cuts first: fewer remote layers on ties
                d = delta[base + c, r - 1]
                if d < best and (not capacitated or block_fits(t, x, load, lo + c, hi, r)):
                    best = d
                    bc = c
                    br = r
        cut[i] = bc
        tier[i] = br
        for m in range(lo + bc, hi):
            apply_move(t, x, m, br, job_T, load)


class Neurosurgeon(Solver):
    """Neurosurgeon-style best single cut per job: a device prefix, then one remote tier.

    For every job, every cut point ``c = 0..L`` and remote tier (edge or cloud) is priced with
    the cost model (Kang et al., ASPLOS 2017, choose the split of a DNN between the mobile device
    and one server; here the criterion is this instance's cost, including energy and tardiness).
    On a DAG job the cut is of the nodes in file order (the families write them in execution
    order): the first ``c`` nodes on the device, the rest on the remote tier, every transfer
    (shared outputs, edge messages, the input, the results) priced by the cost model.
    Without capacities each job takes its cheapest cut. With capacities the single-cut form is
    kept: jobs are served in file order, and each takes its cheapest cut whose remote layers fit
    what the jobs before it left (all-device always fits); ``info["capacity_limited"]`` counts
    the jobs that did not get their cheapest cut.
    """

    name = "neurosurgeon"
    version = 1
    guarantee = "heuristic"
    handles_dag = True
    reference_role = "incumbent"
    reference_rank = 10

    def _solve(self, inst, ctx):
        t = tables(inst)
        nj = inst.n_jobs
        x = np.zeros(inst.n_layers, dtype=np.int8)
        job_T, load = new_move_state(inst, x)
        nrow = inst.n_layers + nj
        delta = np.empty((nrow, 2))
        priced = _cut_table(t, x, job_T, load, delta)
        ctx.charge(priced)
        cut = np.empty(nj, dtype=np.int64)
        tier = np.empty(nj, dtype=np.int8)
        order = np.arange(nj, dtype=np.int64)
        job_T, load = new_move_state(inst, x)
        _pick_cuts(t, delta, order, cut, tier, x, job_T, load, True)
        free_cut = cut.copy()
        free_tier = tier.copy()
        if inst.has_capacities:
            y = np.zeros_like(x)
            job_T2, load2 = new_move_state(inst, y)
            _pick_cuts(t, delta, order, free_cut, free_tier, y, job_T2, load2, False)
        limited = int(np.sum((free_cut != cut) | (free_tier != tier)))
        return Proposal(x, status="feasible", info={"capacity_limited": limited,
                                                    "offloading_jobs": int(np.sum(tier > 0))})
