"""The one cost model of offbench: SPEC.md sections 2 and 7, compiled with Numba.

Everything that needs a cost calls this module: solvers, the MILP builder, tests, benchmarks. The
formulas are applied exactly once, in :func:`build_tables`, which turns an :class:`Instance` into
per-instance coefficient tables; every kernel then prices a decision by table lookups:

* ``comp_t[l, k]``, ``comp_e[l, k]``: time and energy of layer ``l`` on tier ``k``;
* ``tr_t[b, 3 * a + c]``, ``tr_e[b, 3 * a + c]``: time and energy of moving boundary ``b``'s bits
  from tier ``a`` to tier ``c`` (zero when ``a == c``; the sum over the hops of the path);
* ``comp_c`` and ``tr_c``: the same, already combined into the job's weighted linear cost
  ``weight_i * (w.time * t + w.energy * e)``;
* ``job_tw[i] = weight_i * w.tardiness`` (0 for a job without a deadline) and ``job_dl[i]``.

Boundary ``b`` of layer ``l`` (job ``i``): ``b = l + i`` is the boundary *into* layer ``l`` and
``b + 1`` the boundary out of it; the job's last boundary carries the result back to the device.

The cost of a decision is then ``sum_i (sum of c-table entries) + job_tw[i] * max(0, T_i - d_i)``.

The rules that combine table entries exist once, as ``njit`` functions that solvers' kernels call
(and that Python may call): :func:`job_walk` (a job's linear cost and time, the one summation
order), :func:`tardiness`, :func:`job_cost`, :func:`tier_loads` (the loads, each tier's ops summed
in layer order) and :func:`fits` (the capacity test: ``load <= capacity * (1 + 1e-9)``; a capacity
of 0 admits only a load of exactly 0, i.e. only 0-ops layers). Loads kept up to date move by move
drift by rounding, so they are tested with :func:`fits_state` / :func:`move_fits`, which carry a
certified bound on the drift and recompute the exact loads whenever it could change the answer:
no solver decides feasibility differently from :func:`evaluate`.

The module is kept whole (about 850 lines): it is the one place the physics and its rules
live, and splitting it would put the tables and the kernels that read them in different files.

Three kernels sit on these tables:

* :func:`evaluate`: one decision, full report (per-job time, energy, tardiness, cost; loads);
* :func:`evaluate_many`: a batch ``(m, n_layers)`` of ``int8`` decisions, in parallel over rows;
* :func:`move_delta` / :func:`apply_move` (``njit``-callable, O(1)): the change in cost when one
  layer moves to another tier, given per-job times and loads; exhaustive and local search step
  on it. :class:`MoveState` wraps it for Python callers.

DAG jobs (SPEC.md section 7). Chains stay the fast special case: every kernel asks
``t.job_dag[i]`` once per job and walks a chain exactly as before. A DAG job is priced from its
own tables (built by :func:`offbench._dag_kernels.dag_tables`, empty for an all-chain instance,
flat; see its docstring for the layout): node ``l``'s compute on tier ``a`` plus its shared
output sent once over the union of the paths to the tier set ``S`` of its consumers (a bit per
tier, ``a``'s included; ``S = {a}`` for an exit node, whose output goes to the device), paired
with its time; the input from the device to the entry nodes' tiers; an edge's own message. The
walk (:func:`offbench._dag_kernels._dag_sum`) builds each node's ``S`` from its successors'
tiers (O(nodes + edges) per
job); a move (:func:`offbench._dag_kernels._dag_delta`) re-prices only the terms that name the moved node: its own,
its edges' messages, its predecessors' outputs, and the input's if it is an entry node
(O(degree)). Loads and capacities are per node, as for chains. The SPEC.md formulas themselves
are applied in :func:`compute_te`, :func:`hop_te` and :func:`transfer_te` only, which
:mod:`offbench.dag` also uses for solvers' per-hop prices.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import NamedTuple, Sequence

import numpy as np

from ._dag_kernels import _dag_delta, _dag_sum, dag_tables
from ._numba import check_threads, fetch_add, jit, numba_threads, pjit, prange, workers
from .errors import DecisionError
from .instance import Instance

#: Relative tolerance of the capacity check (SPEC.md section 2).
CAPACITY_RTOL = 1e-9

#: evaluate_many prices a batch of fewer layer-decisions (rows x layers) than this on one thread:
#: about 0.2 ms of work, less than waking a worker thread may take on a busy machine.
EVAL_PARALLEL_MIN = 1 << 16

N_TIERS = 3
DEVICE, EDGE, CLOUD = 0, 1, 2
TIER_NAMES = ("device", "edge", "cloud")


class Tables(NamedTuple):
    """Per-instance coefficient tables (see the module docstring). Read-only arrays."""

    comp_t: np.ndarray      # (n_layers, 3)
    comp_e: np.ndarray      # (n_layers, 3)
    comp_c: np.ndarray      # (n_layers, 3)
    tr_t: np.ndarray        # (n_boundaries, 9)
    tr_e: np.ndarray        # (n_boundaries, 9)
    tr_c: np.ndarray        # (n_boundaries, 9)
    offsets: np.ndarray     # (n_jobs + 1,) int64
    layer_job: np.ndarray   # (n_layers,) int64
    job_tw: np.ndarray      # (n_jobs,) weight * w.tardiness, 0 without a deadline
    job_dl: np.ndarray      # (n_jobs,) deadline, inf for none
    ops: np.ndarray         # (n_layers,)
    cap: np.ndarray         # (3,) [inf, edge capacity, cloud capacity] with the tolerance added
    step_c: np.ndarray      # (n_layers, 9) comp_c[l, k] + tr_c[boundary into l, 3 * prev + k]
    step_t: np.ndarray      # (n_layers, 9) the same for times
    end_c: np.ndarray       # (n_jobs, 3) tr_c[job's last boundary, 3 * prev + 0]
    end_t: np.ndarray       # (n_jobs, 3)
    step_e: np.ndarray      # (n_layers, 9) the same for energies
    end_e: np.ndarray       # (n_jobs, 3)
    load_err: np.ndarray    # (1,) 2^-52 * total ops: one load update's rounding bound (see fits_state)
    # DAG jobs (SPEC.md section 7; see "DAG jobs" in the module docstring). Empty (and never
    # read) when every job is a chain.
    job_dag: np.ndarray     # (n_jobs,) int8: 1 for a DAG job (priced by the DAG walk)
    job_msg: np.ndarray     # (n_jobs,) int8: 1 for a DAG job with edge messages
    node_ct: np.ndarray     # (64 n_layers,) flat [64 l + 16 a + 2 S + (0: cost, 1: time)]: compute
    #                         on a and the output to tier set S (S holds a; S = {a} for an exit
    #                         node: its output goes to the device)
    node_et: np.ndarray     # (64 n_layers,) the same, (energy, time)
    in_ct: np.ndarray       # (16 n_jobs,) [16 i + 2 S + .]: the job's input, device to tier set S
    in_et: np.ndarray       # (16 n_jobs,)
    succ_ptr: np.ndarray    # (n_layers + 1,) node l's out-edges are succ_ptr[l] .. succ_ptr[l+1]-1
    succ: np.ndarray        # (n_edges,) global node index of each edge's head
    msg_ct: np.ndarray      # (32 n_edges,) [32 e + 2 (4 a + c) + .]: edge e's own message, a to c
    msg_et: np.ndarray      # (32 n_edges,)
    pred_ptr: np.ndarray    # (n_layers + 1,) node l's in-edges, in pred / pred_edge
    pred: np.ndarray        # (n_edges,) global node index of the tail
    pred_edge: np.ndarray   # (n_edges,) the edge's index (into succ, msg_*)
    entry_ptr: np.ndarray   # (n_jobs + 1,) job i's entry nodes are entry[entry_ptr[i]:...]
    entry: np.ndarray       # (n_entries,) global node index
    dag_next: np.ndarray    # (n_layers,) 7 if (l, l + 1) is an edge, else 0 (the walk's mask)
    dag_k: np.ndarray       # (n_jobs,) width of job i's padded list of other successors; -1: CSR
    dag_base: np.ndarray    # (n_jobs,) where job i's padded list starts in dag_ext
    dag_ext: np.ndarray     # (sum k_i L_i,) the other successors, k_i per node, padded with itself


def compute_te(inst: Instance, d: np.ndarray, c: np.ndarray):
    """SPEC.md section 2's compute table: ``(time, energy)``, each of shape ``c.shape + (3,)``,
    of ``c`` ops on the device ``d`` (an array of device indices shaped like ``c``), the edge
    and the cloud. The one place these formulas are written."""
    sp = inst.dev_speed[d]
    comp_t = np.empty(np.shape(c) + (3,))
    comp_e = np.empty(np.shape(c) + (3,))
    comp_t[..., 0] = c / sp
    comp_e[..., 0] = inst.dev_power_compute[d] * c / sp
    comp_t[..., 1] = c / inst.edge_speed
    comp_e[..., 1] = inst.edge_energy_per_op * c
    comp_t[..., 2] = c / inst.cloud_speed
    comp_e[..., 2] = inst.cloud_energy_per_op * c
    return comp_t, comp_e


def hop_te(inst: Instance, d: np.ndarray, b: np.ndarray):
    """SPEC.md section 2's hop table: ``((up_t, up_e), (down_t, down_e), (backhaul_t,
    backhaul_e))`` of ``b`` bits sent over the hops of device ``d``'s link and the backhaul
    (latency included, also at 0 bits). The one place these formulas are written."""
    up_t = b / inst.dev_rate_up[d] + inst.dev_latency[d]
    up_e = inst.dev_power_tx[d] * b / inst.dev_rate_up[d]
    dn_t = b / inst.dev_rate_down[d] + inst.dev_latency[d]
    dn_e = inst.dev_power_rx[d] * b / inst.dev_rate_down[d]
    bh_t = b / inst.backhaul_rate + inst.backhaul_latency
    bh_e = inst.backhaul_energy_per_bit * b
    return (up_t, up_e), (dn_t, dn_e), (bh_t, bh_e)


def transfer_te(inst: Instance, d: np.ndarray, b: np.ndarray):
    """``(tr_t, tr_e)``, each of shape ``b.shape + (9,)``: time and energy of moving ``b`` bits
    from tier ``a`` to tier ``z`` (entry ``3 * a + z``; 0 when ``a == z``), summed over the hops
    of the path, in the order the data crosses them."""
    up, dn, bh = hop_te(inst, d, b)
    hops = {  # (from, to) -> hops on the path
        (0, 1): (up,),
        (1, 0): (dn,),
        (1, 2): (bh,),
        (2, 1): (bh,),
        (0, 2): (up, bh),
        (2, 0): (bh, dn),
    }
    tr_t = np.zeros(np.shape(b) + (9,))
    tr_e = np.zeros(np.shape(b) + (9,))
    for (a, z), path in hops.items():
        for ht, he in path:
            tr_t[..., 3 * a + z] += ht
            tr_e[..., 3 * a + z] += he
    return tr_t, tr_e


def build_tables(inst: Instance) -> Tables:
    """Apply SPEC.md section 2 once, per layer and per boundary.

    The compute and transfer tables (:func:`compute_te`, :func:`transfer_te`, weighted, and the
    fused step tables) come from one compiled pass, :func:`offbench._tables.chain_tables`,
    bitwise the same as these numpy formulas (tested). The result is cached on the instance;
    call :func:`tables` to get it.
    """
    from ._tables import chain_tables

    off = inst.layer_offsets
    lj = inst.layer_job
    (comp_t, comp_e, comp_c, tr_t, tr_e, tr_c,
     step_c, step_t, end_c, end_t, step_e, end_e) = chain_tables(inst)
    has_dl = np.isfinite(inst.deadline)
    job_tw = np.where(has_dl, inst.job_weight * inst.w_tardiness, 0.0)
    cap = np.array([math.inf,
                    inst.edge_capacity * (1.0 + CAPACITY_RTOL),
                    inst.cloud_capacity * (1.0 + CAPACITY_RTOL)])
    arrays = (comp_t, comp_e, comp_c, tr_t, tr_e, tr_c, off, lj, job_tw,
              np.asarray(inst.deadline, dtype=np.float64), np.asarray(inst.ops), cap,
              step_c, step_t, end_c, end_t, step_e, end_e,
              np.array([2.0 ** -52 * math.fsum(np.asarray(inst.ops).tolist()) * (1.0 + 1e-12)]))
    arrays += dag_tables(inst, comp_t, comp_e, comp_c, tr_t, tr_e, tr_c, transfer_te)
    out = []
    for a in arrays:
        a = np.ascontiguousarray(a)
        if a.flags.writeable:
            a.setflags(write=False)
        out.append(a)
    return Tables(*out)


def tables(inst: Instance) -> Tables:
    """The coefficient tables of an instance, built once and cached on it."""
    t = inst.__dict__.get("_offbench_tables")
    if t is None:
        t = build_tables(inst)
        inst.__dict__["_offbench_tables"] = t
    return t


# ---------------------------------------------------------------------------------- the rules
# Every rule that combines the tables is written once, here, as an njit function that solvers'
# kernels call (and Python code may call too): the job walk, tardiness, the loads and the
# capacity test. No solver re-derives them. Like the move kernels below, they allocate nothing
# and are compiled without Numba's reference counting: with it, each call increfs and decrefs
# every array of the Tables tuple (evaluate_many was 50 times slower).
@jit(_nrt=False)
def tardiness(T, deadline):
    """``max(0, T - d)`` (SPEC.md section 2); 0 for a job without a deadline (``d = inf``)."""
    if T > deadline:
        return T - deadline
    return 0.0


@jit(_nrt=False)
def _walk(step_a, step_b, end_a, end_b, offsets, i, x, both, x0=0):
    """Sum two fused step tables along job ``i``'s chain under ``x`` (layer ``l``'s tier is
    ``x[l - x0]``; the second table only when ``both``): ``(A, B)``, or ``(nan, nan)`` at a tier
    outside {0, 1, 2}."""
    prev = 0
    A = 0.0
    B = 0.0
    for l in range(offsets[i], offsets[i + 1]):
        k = x[l - x0]
        if k < 0 or k > 2:
            return np.nan, np.nan
        j = 3 * prev + k
        A += step_a[l, j]
        if both:
            B += step_b[l, j]
        prev = k
    A += end_a[i, prev]
    if both:
        B += end_b[i, prev]
    return A, B


@jit(_nrt=False)
def _dag_walk(t, node_ab, in_ab, msg_ab, i, x, both, x0=0):
    """:func:`_walk` for a DAG job (SPEC.md section 7); see :func:`_dag_sum`."""
    return _dag_sum(t.offsets, t.entry_ptr, t.entry, t.succ_ptr, t.succ, t.dag_next, t.dag_k,
                    t.dag_base, t.dag_ext, t.job_msg[i] != 0, node_ab, in_ab, msg_ab, i, x,
                    both, x0)


@jit(_nrt=False)
def job_walk(t, i, x, timed=True):
    """The walk along job ``i``'s chain: ``(C, T)``, its linear cost (``weight * (w.time * t +
    w.energy * e)`` summed over compute and transfers, the result's way home included) and,
    when ``timed``, its time ``T_i`` (else 0). ``(nan, nan)`` if a tier is outside {0, 1, 2}.
    Every kernel that prices a job sums in this order, so their results agree bitwise. A DAG
    job (``t.job_dag[i]``) is walked by the DAG walk (SPEC.md section 7)."""
    if t.job_dag[i]:
        return _dag_walk(t, t.node_ct, t.in_ct, t.msg_ct, i, x, timed)
    return _walk(t.step_c, t.step_t, t.end_c, t.end_t, t.offsets, i, x, timed)


@jit(_nrt=False)
def path_walk(t, i, p):
    """:func:`job_walk` for job ``i``'s own tier vector ``p`` (one tier per layer of the job)."""
    if t.job_dag[i]:
        return _dag_walk(t, t.node_ct, t.in_ct, t.msg_ct, i, p, True, t.offsets[i])
    return _walk(t.step_c, t.step_t, t.end_c, t.end_t, t.offsets, i, p, True, t.offsets[i])


@jit(_nrt=False)
def job_cost(t, i, C, T):
    """Job ``i``'s cost from its walk: ``C + job_tw[i] * tardiness(T, job_dl[i])``."""
    tw = t.job_tw[i]
    if tw > 0.0:
        return C + tw * tardiness(T, t.job_dl[i])
    return C


@jit(_nrt=False)
def tier_loads(ops, x):
    """The loads ``(device, edge, cloud)`` of decision ``x``: each tier's ops summed in layer
    order. This is *the* load of SPEC.md section 2 (what :func:`evaluate` reports and
    :func:`fits` tests); a load kept up to date move by move differs from it by rounding."""
    a = 0.0
    b = 0.0
    c = 0.0
    for l in range(x.size):
        k = x[l]
        o = ops[l]
        # branch-free: adding o * 0.0 = 0.0 leaves a sum of non-negative terms unchanged
        a += o * (k == 0)
        b += o * (k == 1)
        c += o * (k == 2)
    return a, b, c


@jit(_nrt=False)
def path_loads(t, i, p):
    """``(edge, cloud)``: the ops that job ``i``'s tier vector ``p`` puts on each, summed in
    layer order (:func:`tier_loads` of the job alone)."""
    l0 = t.offsets[i]
    e = 0.0
    c = 0.0
    for j in range(p.size):
        if p[j] == 1:
            e += t.ops[l0 + j]
        elif p[j] == 2:
            c += t.ops[l0 + j]
    return e, c


@jit(_nrt=False)
def decision_loads(t, x, load):
    """Fill ``load`` with the exact loads of ``x`` (:func:`tier_loads`). A ``load`` of 4
    entries is a *move state* (see :func:`fits_state`): ``load[3]`` counts the rounding steps
    since the loads were exact, here reset to 0."""
    load[0], load[1], load[2] = tier_loads(t.ops, x)
    if load.size > 3:
        load[3] = 0.0


@jit(_nrt=False)
def fits(load, limit):
    """The capacity test of one tier (SPEC.md section 2): ``load <= limit``.

    ``limit`` is ``tables(inst).cap[k]``: the capacity times ``1 + CAPACITY_RTOL``, ``inf``
    without a capacity, and exactly 0 for a capacity of 0, where only a load of exactly 0 fits
    (the tier is switched off: only 0-ops layers may run there, and their exact load is 0).
    ``load`` must be an exact load (:func:`tier_loads`); a load maintained move by move is
    tested with :func:`fits_state` or :func:`move_fits`, never directly.
    """
    return load <= limit


@jit(_nrt=False)
def _slack(t, x, load, extra):
    """Bound on ``|load[k] - exact load of tier k|`` for a move state (4 entries).

    Each load update ``fl(a +- o)`` errs by at most ``2^-53 |result| <= 2^-52 * total ops``;
    the exact loads are sums of at most ``n`` terms, each with at most ``n / 2`` such errors
    against the real sum (both the sum the state started from and the one it is compared to).
    So ``(updates + n + 2) * 2^-52 * total ops`` bounds the difference (``t.load_err``)."""
    return (load[3] + x.size + 2.0 + extra) * t.load_err[0]


@jit(_nrt=False)
def tier_can_bind(t, k):
    """Whether tier ``k``'s capacity can bind: whether putting every layer there would not fit
    (:func:`fits` on that load). A float sum of non-negative terms in a fixed order only grows
    when terms are added, so when everything fits, every decision's load of tier ``k`` fits."""
    s = 0.0
    for l in range(t.ops.size):
        s += t.ops[l]
    return not fits(s, t.cap[k])


@jit(_nrt=False)
def tier_fits(t, x, load, k):
    """Whether tier ``k`` of decision ``x`` fits its capacity, exactly as :func:`fits` on its
    exact load (see :func:`fits_state` for ``load``)."""
    lim = t.cap[k]
    if load.size > 3:
        slack = _slack(t, x, load, 0.0)
        if load[k] > lim + slack:
            return False
        if load[k] <= lim - slack:
            return True
        decision_loads(t, x, load)
    return fits(load[k], lim)


@jit(_nrt=False)
def fits_state(t, x, load):
    """Whether decision ``x`` fits the capacities, exactly as :func:`fits` on its exact loads.

    ``load`` is a move state: 4 entries (device, edge, cloud, rounding steps) kept up to date
    by :func:`apply_move` since :func:`move_state` or :func:`decision_loads` made it exact.
    The incremental loads decide only when they are farther from a limit than their certified
    error bound; otherwise (a load equal to the capacity, a switched-off tier whose load came
    back to about 0) the loads are recomputed exactly, in place, and :func:`fits` decides. So
    rounding can never switch a tier on or off. A 3-entry ``load`` is taken as exact.
    """
    if load.size > 3:
        slack = _slack(t, x, load, 0.0)
        if load[1] > t.cap[1] + slack or load[2] > t.cap[2] + slack:
            return False
    return tier_fits(t, x, load, 1) and tier_fits(t, x, load, 2)


@jit(_nrt=False)
def block_fits(t, x, load, a, z, k):
    """Whether tier ``k`` still fits its capacity once layers ``a .. z-1`` move there (the
    device always does). ``load`` is a move state (see :func:`fits_state`); when its bound
    cannot decide, the tier's exact load after the move is summed in layer order and
    :func:`fits` decides."""
    if k == 0:
        return True
    lim = t.cap[k]
    if load.size > 3:
        new = load[k]
        for m in range(a, z):
            if x[m] != k:
                new += t.ops[m]
        slack = _slack(t, x, load, 2.0 * (z - a))
        if new > lim + slack:
            return False
        if new <= lim - slack:
            return True
    s = 0.0
    for m in range(x.size):
        if (a <= m and m < z) or x[m] == k:
            s += t.ops[m]
    return fits(s, lim)


@jit(_nrt=False)
def move_fits(t, x, load, l, k):
    """Whether tier ``k`` still fits its capacity once layer ``l`` moves there (the device
    always does; a move to the layer's own tier changes nothing and fits). ``load`` is a move
    state (see :func:`fits_state`); when its bound cannot decide, the tier's exact load with
    ``l`` on it is summed in layer order and :func:`fits` decides."""
    if x[l] == k:
        return True
    return block_fits(t, x, load, l, l + 1, k)


# ---------------------------------------------------------------------------------- kernels
@jit
def _eval_one(t, x, job_T, job_E, job_U, load):
    """Per-job time, energy and tardiness, and per-tier loads, of one valid decision."""
    nj = t.offsets.size - 1
    for i in range(nj):
        if t.job_dag[i]:
            E, T = _dag_walk(t, t.node_et, t.in_et, t.msg_et, i, x, True)
        else:
            E, T = _walk(t.step_e, t.step_t, t.end_e, t.end_t, t.offsets, i, x, True)
        job_T[i] = T
        job_E[i] = E
        job_U[i] = tardiness(T, t.job_dl[i])
    decision_loads(t, x, load)


@jit(_nrt=False)
def _row_cost(t, x):
    """Cost, edge load and cloud load of one decision row; cost is NaN if a value is bad."""
    nj = t.offsets.size - 1
    total = 0.0
    for i in range(nj):
        C, T = job_walk(t, i, x, t.job_tw[i] > 0.0)
        total += job_cost(t, i, C, T)
    if np.isnan(total):
        return np.nan, 0.0, 0.0
    _, le, lc = tier_loads(t.ops, x)
    return total, le, lc


@jit(_nrt=False)
def _eval_rows(t, X, costs, feasible, loads, counter, chunk, full):
    """One worker of :func:`evaluate_many`: price rows ``s .. s + chunk - 1`` of ``X`` for each
    ``s`` it takes from the shared queue ``counter`` (:func:`offbench._numba.fetch_add`) until
    none is left; the costs, and with ``full`` the loads and feasibility, go to the rows' own
    entries of the outputs. Returns the first of its rows whose cost is NaN (``X.shape[0]`` if
    none). Called directly, with a fresh counter, it prices every row on this thread."""
    m = X.shape[0]
    first_nan = m
    while True:
        s = fetch_add(counter, chunk)
        if s >= m:
            break
        for r in range(s, min(s + chunk, m)):
            c, le, lc = _row_cost(t, X[r])
            costs[r] = c
            if full:
                loads[r, 0] = le
                loads[r, 1] = lc
                feasible[r] = fits(le, t.cap[1]) and fits(lc, t.cap[2])
            if np.isnan(c) and r < first_nan:
                first_nan = r
    return first_nan


@pjit
def _eval_many(t, X, costs, feasible, loads, counter, chunk, full, first_nan):
    """:func:`_eval_rows` on ``first_nan.size`` workers in parallel (one per thread), sharing
    the rows through ``counter``; worker ``w``'s first NaN row goes to ``first_nan[w]``."""
    for w in prange(first_nan.size):
        first_nan[w] = _eval_rows(t, X, costs, feasible, loads, counter, chunk, full)


# The move kernels allocate nothing, so they are compiled without Numba's reference counting:
# with it, every call from another kernel increfs and decrefs each array of the Tables tuple,
# which made a Gray-code walk 20-30 times slower (benchmarks/scripts/bench_exact.py).
@jit(_nrt=False)
def move_delta(t, x, l, k, job_T):
    """Change in cost when layer ``l`` moves from ``x[l]`` to tier ``k``; O(1) for a chain's
    layer, O(degree) for a DAG node (:func:`offbench._dag_kernels._dag_delta`).

    ``t`` is the :class:`Tables` tuple, ``job_T`` the current per-job times (needed only for
    tardiness). Returns ``(d_cost, d_time)``: ``d_time`` is the change of that job's time. The
    change of load is ``ops[l]`` leaving tier ``x[l]`` and arriving on tier ``k``. Callable from
    other Numba kernels.
    """
    old = x[l]
    if old == k:
        return 0.0, 0.0
    i = t.layer_job[l]
    if t.job_dag[i]:
        return _dag_move_delta(t, x, l, k, job_T, i)
    prev = 0 if l == t.offsets[i] else x[l - 1]
    nxt = 0 if l == t.offsets[i + 1] - 1 else x[l + 1]
    b = l + i
    d_lin = (t.comp_c[l, k] - t.comp_c[l, old]
             + t.tr_c[b, 3 * prev + k] - t.tr_c[b, 3 * prev + old]
             + t.tr_c[b + 1, 3 * k + nxt] - t.tr_c[b + 1, 3 * old + nxt])
    d_T = (t.comp_t[l, k] - t.comp_t[l, old]
           + t.tr_t[b, 3 * prev + k] - t.tr_t[b, 3 * prev + old]
           + t.tr_t[b + 1, 3 * k + nxt] - t.tr_t[b + 1, 3 * old + nxt])
    tw = t.job_tw[i]
    if tw > 0.0:
        T0 = job_T[i]
        dl = t.job_dl[i]
        d_lin += tw * (tardiness(T0 + d_T, dl) - tardiness(T0, dl))
    return d_lin, d_T


@jit(_nrt=False)
def _dag_move_delta(t, x, l, k, job_T, i):
    """:func:`move_delta` for node ``l`` of DAG job ``i`` (see :func:`_dag_delta`)."""
    dc, dt = _dag_delta(t.succ_ptr, t.succ, t.pred_ptr, t.pred, t.pred_edge,
                        t.entry_ptr, t.entry, t.node_ct, t.in_ct, t.msg_ct,
                        t.job_msg[i] != 0, x, l, k, i)
    tw = t.job_tw[i]
    if tw > 0.0:
        T0 = job_T[i]
        dl = t.job_dl[i]
        dc += tw * (tardiness(T0 + dt, dl) - tardiness(T0, dl))
    return dc, dt


@jit(_nrt=False)
def apply_move(t, x, l, k, job_T, load):
    """Move layer ``l`` to tier ``k`` in place (``x``, ``job_T``, ``load``); return the
    change in cost. Callable from other Numba kernels.

    ``load`` is a move state of 4 entries (see :func:`fits_state`: the fourth counts rounding
    steps, so that capacity tests on it stay exact) or 3 plain loads."""
    d_cost, d_T = move_delta(t, x, l, k, job_T)
    old = x[l]
    if old != k:
        job_T[t.layer_job[l]] += d_T
        o = t.ops[l]
        if o != 0.0:
            load[old] -= o
            load[k] += o
            if load.size > 3:
                load[3] += 2.0
        x[l] = k
    return d_cost


@jit(_nrt=False)
def job_times(t, x, job_T):
    """Fill ``job_T`` with each job's time under decision ``x`` (all values assumed valid)."""
    nj = t.offsets.size - 1
    for i in range(nj):
        if t.job_dag[i]:
            _, T = _dag_walk(t, t.node_ct, t.in_ct, t.msg_ct, i, x, True)
        else:
            T, _ = _walk(t.step_t, t.step_t, t.end_t, t.end_t, t.offsets, i, x, False)
        job_T[i] = T


@jit(_nrt=False)
def move_state(t, x, job_T, load):
    """Fill the state that :func:`apply_move` keeps up to date: each job's time (``job_T``)
    and the exact loads (``load``: 4 entries, a move state; see :func:`fits_state`) under the
    valid decision ``x``."""
    job_times(t, x, job_T)
    decision_loads(t, x, load)


@jit(_nrt=False)
def decision_cost(t, x):
    """Cost of one valid decision (no checks); callable from other Numba kernels."""
    c, le, lc = _row_cost(t, x)
    return c


def new_move_state(inst: Instance, x: np.ndarray):
    """``(job_T, load)`` for decision ``x``: the state that :func:`apply_move` maintains, exact."""
    t = tables(inst)
    job_T = np.empty(inst.n_jobs)
    load = np.zeros(4)
    move_state(t, x, job_T, load)
    return job_T, load


# ---------------------------------------------------------------------------------- wrappers
@dataclasses.dataclass(frozen=True)
class JobCost:
    """One job's share of an evaluation."""

    time: float
    energy: float
    tardiness: float
    cost: float


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The full evaluation of one decision (SPEC.md section 5, ``evaluate``)."""

    cost: float
    feasible: bool
    load: dict
    jobs: list

    def to_dict(self) -> dict:
        return {
            "cost": self.cost,
            "feasible": self.feasible,
            "load": dict(self.load),
            "jobs": [dataclasses.asdict(j) for j in self.jobs],
        }


def as_decision(inst: Instance, decision: Sequence[int] | np.ndarray) -> np.ndarray:
    """Check a decision against an instance and return it as a contiguous ``int8`` array.

    Raises
    ------
    DecisionError
        Wrong length, or a value outside ``{0, 1, 2}``; the message names the position.
    """
    if (type(decision) is np.ndarray and decision.dtype == np.int8 and decision.ndim == 1
            and decision.size == inst.n_layers and decision.flags.c_contiguous
            and (decision.size == 0 or decision.view(np.uint8).max() <= 2)):
        return decision  # already one: what the checks below return it as (negative tiers
        # read as unsigned are above 2, and go the long way to their message)
    try:
        a = np.asarray(decision)
    except (TypeError, ValueError) as e:
        raise DecisionError(f"decision: not a list of tiers ({e})") from None
    if a.ndim != 1:
        raise DecisionError(f"decision: expected a flat list of tiers, got shape {a.shape}")
    if a.size != inst.n_layers:
        raise DecisionError(
            f"decision: expected {inst.n_layers} values (one per layer: "
            f"{', '.join(map(str, inst.layers_per_job[:8].tolist()))}"
            f"{', ...' if inst.n_jobs > 8 else ''} layers per job), got {a.size}")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            pos = int(np.argmax(~np.isfinite(a) | (a != np.round(a))))
            raise DecisionError(f"decision[{pos}]: expected a tier in {{0, 1, 2}}, got {a[pos].item()!r}")
    elif a.dtype.kind not in "iub":
        raise DecisionError(f"decision: expected integers (tiers 0, 1, 2), got {a.dtype}")
    bad = (a < 0) | (a > 2)
    if np.any(bad):
        pos = int(np.argmax(bad))
        raise DecisionError(f"decision[{pos}]: expected a tier in {{0, 1, 2}}, got {a[pos].item()!r}")
    return np.ascontiguousarray(a, dtype=np.int8)


def _need_instance(inst, where: str) -> None:
    """A TypeError naming the mistake where ``inst`` is not an Instance (a path, a dict)."""
    if not isinstance(inst, Instance):
        raise TypeError(f"{where}: inst must be an Instance (offbench.load_instance reads a "
                        f"file), got {type(inst).__name__}")


def evaluate(inst: Instance, decision: Sequence[int] | np.ndarray) -> Evaluation:
    """Evaluate one decision exactly as SPEC.md section 2 says.

    Parameters
    ----------
    inst : Instance
    decision : sequence of int
        One tier (0 device, 1 edge, 2 cloud) per layer, jobs in file order.

    Returns
    -------
    Evaluation
        ``cost``, ``feasible``, ``load`` (``{"edge", "cloud"}`` in ops) and per-job
        ``time``, ``energy``, ``tardiness``, ``cost``.
    """
    _need_instance(inst, "evaluate")
    job_T, job_E, U, job_cost, load, feasible = _evaluate_arrays(inst, decision)
    jobs = [JobCost(*v) for v in zip(job_T.tolist(), job_E.tolist(), U.tolist(), job_cost.tolist())]
    return Evaluation(
        cost=float(math.fsum(job_cost)),
        feasible=feasible,
        load={"edge": float(load[1]), "cloud": float(load[2])},
        jobs=jobs,
    )


def cost_feasible(inst: Instance, decision: Sequence[int] | np.ndarray) -> tuple[float, bool]:
    """``(cost, feasible)`` of one decision: :func:`evaluate`'s ``cost`` and ``feasible``,
    the same numbers from the same computation, without the per-job breakdown and the loads
    (what the runner's referee and :meth:`offbench.solver.Solver.solve` need for each job)."""
    _, _, _, job_cost, _, feasible = _evaluate_arrays(inst, decision)
    return float(math.fsum(job_cost)), feasible


def _evaluate_arrays(inst: Instance, decision):
    """SPEC.md section 2 for one decision: per-job time, energy, tardiness and cost, the
    tiers' loads and feasibility (what :func:`evaluate` reports)."""
    x = as_decision(inst, decision)
    t = tables(inst)
    nj = inst.n_jobs
    job_T = np.empty(nj)
    job_E = np.empty(nj)
    U = np.empty(nj)
    load = np.empty(3)
    _eval_one(t, x, job_T, job_E, U, load)
    job_cost = inst.job_weight * (inst.w_time * job_T + inst.w_energy * job_E + inst.w_tardiness * U)
    feasible = bool(fits(load[1], t.cap[1]) and fits(load[2], t.cap[2]))
    return job_T, job_E, U, job_cost, load, feasible


def _as_batch(inst: Instance, X) -> np.ndarray:
    try:
        X = np.asarray(X)
    except (TypeError, ValueError) as e:  # rows of different lengths, say
        raise DecisionError(f"decisions: not an array of tiers ({e})") from None
    if X.ndim != 2 or X.shape[1] != inst.n_layers:
        raise DecisionError(
            f"decisions: expected an array of shape (m, {inst.n_layers}) (one row per decision), "
            f"got shape {X.shape}")
    if X.dtype != np.int8:
        if X.dtype.kind not in "iub":
            raise DecisionError(f"decisions: expected an int8 array of tiers, got {X.dtype}")
        bad = (X < 0) | (X > 2)
        if np.any(bad):
            r, c = np.argwhere(bad)[0]
            raise DecisionError(f"decisions[{r}, {c}]: expected a tier in {{0, 1, 2}}, got {X[r, c].item()}")
        X = X.astype(np.int8)
    return np.ascontiguousarray(X)


def evaluate_many(inst: Instance, X, *, with_feasibility: bool = False, parallel: bool = True,
                  threads: int | None = None):
    """Costs of a batch of decisions: the hot loop of learned solvers and benchmarks.

    Parameters
    ----------
    inst : Instance
    X : int8 array, shape (m, n_layers)
        One decision per row. Other integer dtypes are checked and converted (a copy).
    with_feasibility : bool
        Also return feasibility and loads.
    parallel : bool
        Spread rows over Numba's threads (``offbench._numba.set_num_threads`` limits them).
    threads : int, optional
        Use this many threads for this call (1: this thread only); the results do not depend
        on it. At most ``offbench._numba.max_threads()``. The threads share the rows through a
        queue, in chunks (:mod:`offbench._numba`), so a thread that starts late or is preempted
        prices fewer of them; a batch of fewer than :data:`EVAL_PARALLEL_MIN` layer-decisions
        (rows x layers) is priced on this thread alone.

    Returns
    -------
    costs : float64 array, shape (m,)
    feasible : bool array, shape (m,)
        Only with ``with_feasibility``.
    loads : float64 array, shape (m, 2)
        Edge and cloud load, only with ``with_feasibility``.
    """
    if threads is not None:
        try:
            threads = check_threads(threads)
        except ValueError as e:
            raise DecisionError(f"evaluate_many: {e}") from None
    _need_instance(inst, "evaluate_many")
    X = _as_batch(inst, X)
    t = tables(inst)
    m = X.shape[0]
    costs = np.empty(m)
    # without with_feasibility, the loads and feasibility are neither kept nor written
    rows = m if with_feasibility else 0
    feasible = np.empty(rows, dtype=np.bool_)
    loads = np.empty((rows, 2))
    counter = np.zeros(1, dtype=np.int64)
    if threads is None:
        threads = 0 if parallel else 1             # 0: the threads Numba is set to use
    if threads == 1 or m * X.shape[1] < EVAL_PARALLEL_MIN:
        r = _eval_rows(t, X, costs, feasible, loads, counter, max(m, 1), with_feasibility)
    else:
        with numba_threads(threads) if threads else contextlib.nullcontext():
            nw = workers(m)
            # chunks of 64-4096 rows, at least 16 per worker where there are enough rows
            chunk = max(64, min(4096, m // (16 * nw)))
            first_nan = np.empty(nw, dtype=np.int64)
            if nw == 1:
                r = _eval_rows(t, X, costs, feasible, loads, counter, chunk, with_feasibility)
            else:
                _eval_many(t, X, costs, feasible, loads, counter, chunk, with_feasibility,
                           first_nan)
                r = int(first_nan.min())
    if r < m:       # the first row whose cost is NaN: a tier outside {0, 1, 2}?
        r = int(r)
        bad = (X[r] < 0) | (X[r] > 2)
        if np.any(bad):
            c = int(np.argmax(bad))
            raise DecisionError(f"decisions[{r}, {c}]: expected a tier in {{0, 1, 2}}, got {X[r, c].item()}")
    if with_feasibility:
        return costs, feasible, loads
    return costs


def all_device_cost(inst: Instance) -> float:
    """Cost of placing every layer on its device: always feasible (SPEC.md section 2)."""
    return cost_feasible(inst, np.zeros(inst.n_layers, dtype=np.int8))[0]


class MoveState:
    """A decision with the bookkeeping that makes one-layer moves O(1), for Python callers.

    Numba code calls :func:`move_delta` and :func:`apply_move` directly with ``tables(inst)``.
    """

    def __init__(self, inst: Instance, decision=None):
        self.inst = inst
        self.t = tables(inst)
        self.x = (np.zeros(inst.n_layers, dtype=np.int8) if decision is None
                  else as_decision(inst, decision).copy())
        self.job_T, self.load = new_move_state(inst, self.x)
        self.cost = float(decision_cost(self.t, self.x))

    @property
    def feasible(self) -> bool:
        """Whether the decision fits the capacities (exactly: :func:`fits_state`)."""
        return bool(fits_state(self.t, self.x, self.load))

    def _move(self, layer, tier) -> tuple[int, int]:
        """``(layer, tier)`` checked: the kernels index without bounds checks (a layer past
        the end read other memory or crashed the interpreter, -1 priced the last layer)."""
        ok = isinstance(layer, (int, np.integer)) and not isinstance(layer, (bool, np.bool_))
        if not ok or not 0 <= layer < self.x.size:
            raise DecisionError(f"layer must be an int in [0, {self.x.size}), got {layer!r}")
        if (not isinstance(tier, (int, np.integer)) or isinstance(tier, (bool, np.bool_))
                or not 0 <= tier < N_TIERS):
            raise DecisionError(f"tier must be 0, 1 or 2, got {tier!r}")
        return int(layer), int(tier)

    def move_fits(self, layer: int, tier: int) -> bool:
        """Whether ``tier`` still fits once ``layer`` moves there (:func:`move_fits`)."""
        layer, tier = self._move(layer, tier)
        return bool(move_fits(self.t, self.x, self.load, layer, tier))

    def delta(self, layer: int, tier: int) -> tuple[float, float, float]:
        """``(d_cost, d_edge_load, d_cloud_load)`` of moving ``layer`` to ``tier``."""
        layer, tier = self._move(layer, tier)
        d_cost, _ = move_delta(self.t, self.x, layer, tier, self.job_T)
        old = int(self.x[layer])
        o = float(self.t.ops[layer])
        return d_cost, o * (int(tier == 1) - int(old == 1)), o * (int(tier == 2) - int(old == 2))

    def apply(self, layer: int, tier: int) -> float:
        """Make the move; return the change in cost."""
        layer, tier = self._move(layer, tier)
        d = apply_move(self.t, self.x, layer, tier, self.job_T, self.load)
        self.cost += d
        return d
