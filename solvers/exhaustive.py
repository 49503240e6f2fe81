"""Exhaustive search: every one of the ``3^n`` placements, priced incrementally.

The placements are split into ``3^(n - m)`` blocks (:func:`block_split`: ``m >= 9`` digits per
block): block ``b`` fixes layers ``m .. n-1`` to the base-3 digits of ``b``, and inside a block the
first ``m`` layers are visited in the order of the reflected ternary Gray code (Knuth, *TAOCP*
7.2.1.1, Algorithm H, "loopless reflected mixed-radix Gray generation"): from one placement to
the next exactly one layer changes its tier, by one step (0 <-> 1 or 1 <-> 2). Blocks are
independent, so they are walked on the threads the solve is given (``threads=`` of
:meth:`offbench.solver.Solver.solve`, ``ctx.threads``) at once: one worker per thread
(``prange`` over the workers), each taking the next block from a shared queue (an atomic
counter, :func:`offbench._numba.fetch_add`) until none is left, so a thread that starts late or
is preempted walks fewer blocks instead of holding up the others (a fixed ``prange`` split over
the blocks made a solve wait for its slowest thread: 1.25-1.47x on two cores). Each step is
priced exactly as :func:`offbench.cost.apply_move`, the cost model's O(1) move kernel, prices
it, keeping the per-job times (for tardiness) and the edge/cloud loads (for feasibility) up to
date. A full enumeration therefore costs O(1) per placement instead of O(n). DAG jobs
(SPEC.md section 7) are enumerated step by step with apply_move itself (:func:`_gray_walk`):
their move deltas cost O(degree) (:func:`offbench.cost.move_delta`), so exhaustive search is
the referee for small DAG instances too.

The all-chain walk (:func:`_chain_walk`: instances without DAG jobs, from
``CHAIN_MIN_LAYERS`` layers). A chain layer's move changes the cost by a value that depends on
the layer, its old and new tier and its two neighbours' tiers only, plus the tardiness term.
So the solve first asks :func:`offbench.cost.move_delta` itself for every such move of every
walking layer (:func:`_chain_tables`, with the tardiness weights set to 0: 36 moves a layer),
and a step reads its linear cost and time change from that table and adds the tardiness term
exactly as move_delta adds it: every step's cost change, job time and loads are apply_move's,
bit for bit (``tests/test_exhaustive.py`` compares every block's answer, placements and exact
evaluations with the step-by-step walk, and the digests of ``tests/test_threads.py`` hold).
Digit 0 of the Gray code, which changes on two steps of every three, is unrolled: two moves of
layer 0 (the first of its job, whose next layer does not move meanwhile), then one move of the
others by Algorithm H on digits ``1 ..``; the two moves keep the job's time in a register and
need no Gray bookkeeping. Loads are not kept when no capacity can bind
(:func:`offbench.cost.tier_can_bind`): every placement fits. Measured (CPU time per placement
of one thread walking every block of the bench_exact instance, old and new kernel alternated
in one process, medians of 7-11, a loaded two-core znver3 at load 5-10): 23-42 ns before (the
step-by-step walk: 12 table reads, move_delta's neighbour branches and the Gray bookkeeping on
every step), 15-16 ns with the table alone (its step compiles to about 100 instructions, much
of it index arithmetic and array descriptors reloaded from the stack), 9.4-16.8 ns with digit 0
unrolled (2.3-2.8x; 6-10e7 placements per second of CPU on one core of that machine;
``benchmarks/scripts/ab_exhaustive.py``). Tried and dropped, same A/B: a branch-free Gray
update and tardiness term in the general step (15.6 against 14.7 ns: no gain); unrolling
digit 1 as well (20-28 ns against 15-17: slower; why was not examined further); unsigned table
indices (no code for negative indices: 10.4-15.8 against 10.2-16.9 ns, within the noise);
``fastmath`` and float32 tables were not tried: both change result bits.

Floating-point drift. The running cost and the running loads are sums of millions of deltas, so
they drift from the true cost and loads of the current placement. Three things keep the answer
exact:

* feasibility is never read off the running loads directly: :func:`offbench.cost.fits_state`
  decides from them only when they are farther from a capacity than a certified bound on their
  drift, and otherwise recomputes the exact loads (so a load equal to a capacity, or a
  switched-off tier of capacity 0 whose running load came back to ``+-1e-8`` instead of 0,
  is judged exactly as :func:`offbench.cost.evaluate` judges it). Before this rule, a capacity
  of 0 compared against a drifted load rejected feasible placements, and exhaustive returned
  ``optimal`` with a cost up to 30 % too high on such instances (issue 9);

* the running value is only a filter: a placement whose running cost is below the best so far
  plus a certified bound on the running cost's drift (and whose loads fit) is priced again
  from scratch with :func:`offbench.cost.decision_cost`, and becomes the best only if that
  exact cost is strictly lower; the running cost is reset to the exact value at that point.
  The drift bound (:func:`drift_unit` per step, times the steps between two exact points) is
  what makes the filter exact at any magnitude: before it, a placement of cost 1 reached right
  after one of cost 1.3e16 had a running cost of 1 +- 2, was never priced, and exhaustive
  answered ``optimal`` with cost 2 (a bug hunt's instance, now in ``tests/test_exhaustive.py``).
  The bound is about 1e-11 of the largest cost a placement can have (on random instances with
  deadlines, up to 3e-7 of the optimum), so it adds exact evaluations only for placements that
  close to the best; on the bench_exact instance none (``ab_exhaustive.py``: the same exact
  evaluations in every block, the same time per placement);
* every time a Gray digit at or above ``RESYNC_DIGIT`` changes (once every ``3^RESYNC_DIGIT``
  steps or so), and at the start of every block, the running cost, per-job times and loads are
  recomputed from scratch, so the drift never accumulates over more than a few thousand steps
  (relative error of the filter ~1e-13, far below the 1e-6 at which references are compared).

Ties are broken deterministically, the same way for any number of threads: the first placement
(in block order, then Gray order inside the block) that reaches the optimal cost is kept. Each
block keeps its first placement strictly cheaper than everything before it in the block (and
than the best of the earlier batches of blocks), and the batch's answer is its lowest block of
least cost; so the winner is the first in that order whatever the threads or batches.

Blocks run in batches, one kernel call each; between batches the wrapper checks the clock, so a
time limit stops the search with status ``timeout`` and the best placement seen so far (never
worse than all-device, the first placement, always feasible). The first batch is sized from
``RATE_GUESS`` (placements per second of one thread, assumed) to about ``CHUNK_SECONDS`` on all
the threads, or an eighth of the time left when there is a limit; later batches from the rate
the earlier ones measured, to about ``CHUNK_SECONDS`` (or half the time left). A solve without
a limit of up to about ``CHUNK_SECONDS`` of work (3^16 on two threads) is therefore one kernel
call, one parallel region; a batch that one thread walks in less than ``PARALLEL_MIN_SECONDS``
(by the same estimate) runs on one thread, without waking a worker (a solve of up to 3^11
placements never starts one).

What was measured and dropped (bench_exact at 3^14, 243 blocks of 3^9, two threads, with
per-block cycle stamps and per-thread CPU clocks; a loaded two-core machine, raised priority):

* the first block used to be walked alone, serially, to time a block before sizing the
  batches (0.4 ms of one thread, 1 % of a two-thread 3^14 solve: the rest was then one parallel
  batch of 242 blocks, not several). It is gone: nothing in the answer depends on the batches;
* the end of a batch: the queue hands out blocks of 3^9 placements (0.3-0.4 ms), so the last
  thread to finish waits at most one block for the other (measured: 0.05-0.5 ms per batch);
  smaller blocks near the end (guided self-scheduling) would save at most that, and would
  change the Gray order inside blocks, and with it which of several tied placements is kept;
* false sharing: a worker allocates its state (placement, per-job times, loads, Gray pointers,
  running and best cost) in its own thread, and writes shared memory only once per block (its
  block's outputs, the queue's counter). In the runs checked no state array shared a cache
  line with the cost tables or with the other worker's state (addresses printed), and both
  threads walked a block in the same time as one thread alone (425 us). In one run of several
  the pool's worker thread walked every block 1.6x slower than the main thread, uniformly:
  most likely its core was shared with another process (other sessions on the machine raise
  their priority too), which no change of layout or padding would fix;
* the worker's wake-up: the parallel region wakes the pool's worker thread, asleep since the
  previous parallel call (Numba's OpenMP pool spins about 10 ms of CPU after a call, then
  sleeps). Its first block started 0.1 ms after the region on a free core, 2-7 ms under load
  (waiting for a core), which the queue absorbs: the main thread walks those blocks meanwhile.
"""

from __future__ import annotations

import math
import time

import numpy as np

from offbench._numba import fetch_add, jit, numba_threads, pjit, prange, workers
from offbench.cost import (apply_move, decision_cost, fits_state, move_delta, move_state,
                           new_move_state, tables, tardiness, tier_can_bind)
from offbench.solver import Param, Proposal, Solver, Unsupported

#: The reference chain asks exhaustive search for a proof up to this many layers (3^16 = 4.3e7
#: placements: about a second at the benchmarked rate).
REFERENCE_MAX_LAYERS = 16

#: A Gray digit at or above this index triggers a full recomputation of the running state.
RESYNC_DIGIT = 7

#: Instances of all-chain jobs with at least this many layers are walked by :func:`_chain_walk`
#: (its move table costs 40-80 us to build: below 3^8 placements the step-by-step walk, about
#: 25-40 ns a placement, is done sooner; measured in a solve of 3^4 .. 3^8 placements).
CHAIN_MIN_LAYERS = 8

#: Blocks walk at least this many digits (3^9 placements) each.
BLOCK_DIGITS = 9

#: Batches of blocks (one kernel call each; the clock is checked between them) are sized to
#: about this many seconds.
CHUNK_SECONDS = 0.25

#: Placements per second of one thread, assumed before anything is measured (it sizes the first
#: batch): set a little above the 6.8e7/s that the step-by-step walk did on the quiet machine
#: (bench_exact, 3^14, full model). The all-chain walk is faster (9.4e7-1.2e8/s on one idle
#: core of the slower machine), so its first batch can take up to about 1.7x its target; the
#: target is at most an eighth of the time left, so a time limit is still kept; only a batch
#: near PARALLEL_MIN_SECONDS may be sent to two threads at about half that much work.
RATE_GUESS = 1e8

#: A batch that one thread walks in less than this many seconds is walked on one thread: waking
#: a worker thread takes tens of microseconds on a quiet machine but can take tens of
#: milliseconds on a busy one (measured: a 3^10 solve, 1 ms on one thread, took 18-38 ms on two
#: at load 6, waiting for the second thread at the end of the parallel region).
PARALLEL_MIN_SECONDS = 0.002


#: Roundings charged to one step of the walk in :func:`drift_unit` (a move's cost change sums
#: a few table entries, tardiness terms and the running cost; each rounding is at most 2^-53 of
#: a value no larger than the bound on any placement's cost), plus this many per edge of the
#: moved node of a DAG job (its messages' terms).
DRIFT_ROUNDINGS = 32
DRIFT_ROUNDINGS_PER_EDGE = 8


def drift_unit(t) -> float:
    """A bound on how far one step of the walk can move the running cost from the exact cost
    of its placement: ``(DRIFT_ROUNDINGS + DRIFT_ROUNDINGS_PER_EDGE * degree) * 2^-53 * U``,
    where ``U`` bounds every value the walk adds or holds: the sum over jobs of the largest
    entry of each cost table the job reads (its steps, its way home, a DAG job's nodes, input
    and messages), plus each job's tardiness weight times the sum of the largest time entries
    (which bounds its tardiness, and the effect of its running time's own drift). Every entry is
    non-negative (SPEC.md section 2), so ``U`` is at least any placement's cost. (Counted: a
    chain move's five additions, the running sum's, the tardiness terms', whose job time drifts
    too and is not reset when a placement is priced exactly: about 24 roundings, under 32; a DAG
    move's 4 per edge plus 4.) The walk's
    filter adds this times the steps between two exact points; ``inf`` (every placement priced
    exactly) when ``U`` is not finite."""
    n = t.ops.size
    nj = t.offsets.size - 1
    lj = np.asarray(t.layer_job)

    def per_job(by_layer, by_job):
        out = np.zeros(nj)
        if by_layer.size:
            np.add.at(out, lj, by_layer)
        return out + by_job

    def top(a, width, k):  # the largest entry of each row, of the k-th of each pair (DAG)
        if a.size == 0:
            return np.zeros(0)
        return np.max(np.asarray(a).reshape(-1, width)[:, k::2], axis=1)

    cmax = per_job(np.max(t.step_c, axis=1), np.max(t.end_c, axis=1))
    tmax = per_job(np.max(t.step_t, axis=1), np.max(t.end_t, axis=1))
    deg = 0
    if t.job_dag.any():
        cmax += per_job(top(t.node_ct, 64, 0), top(t.in_ct, 16, 0))
        tmax += per_job(top(t.node_ct, 64, 1), top(t.in_ct, 16, 1))
        if t.msg_ct.size:
            tails = np.asarray(t.pred)[np.argsort(t.pred_edge)]  # each edge's tail node
            np.add.at(cmax, lj[tails], top(t.msg_ct, 32, 0))
            np.add.at(tmax, lj[tails], top(t.msg_ct, 32, 1))
            d = np.diff(t.succ_ptr) + np.diff(t.pred_ptr)
            deg = int(d.max()) if d.size else 0
    with np.errstate(over="ignore", invalid="ignore"):
        u = float(np.sum(cmax) + np.sum(np.asarray(t.job_tw) * tmax))
    if not math.isfinite(u) or n == 0:
        return math.inf if not math.isfinite(u) else 0.0
    return (DRIFT_ROUNDINGS + DRIFT_ROUNDINGS_PER_EDGE * deg) * 2.0 ** -53 * u


@jit(_nrt=False)
def _resync(t, x, job_T, load):
    """Recompute per-job times and loads of ``x`` exactly; return its exact cost."""
    move_state(t, x, job_T, load)
    return decision_cost(t, x)


# _gray_walk and _resync allocate nothing, so they are compiled without reference counting:
# with it, every call increfs and decrefs each array of the Tables tuple, whose counts all
# threads share (one cache line bounced between cores per array, ~10 times per block).
@jit(_nrt=False)
def _gray_walk(t, x, job_T, load, f, o, cur, best, best_x, budget, resync_digit, margin=0.0):
    """Advance the Gray walk by at most ``budget`` steps.

    State (updated in place, so a later call continues where this one stopped): ``x`` the
    current placement (also the Gray digits), ``f`` the focus pointers (m + 1: the first ``m``
    digits walk, the others stay as they are), ``o`` the directions (+1/-1), ``cur[0]`` the
    running cost, ``best[0]``/``best_x`` the best feasible placement so far (replaced only by a
    strictly cheaper one). ``margin``: the bound on the running cost's drift (a placement whose
    running cost is under ``best + margin`` is priced exactly). Returns ``(steps,
    exact_evaluations, done)``.
    """
    n = f.size - 1                  # the digits that walk (the others stay fixed)
    c = cur[0]
    b = best[0]
    bm = b + margin
    exact = 0
    steps = 0
    done = False
    while steps < budget:
        j = f[0]
        f[0] = 0
        if j == n:
            done = True
            break
        k = x[j] + o[j]
        c += apply_move(t, x, j, k, job_T, load)
        steps += 1
        if k == 0 or k == 2:
            o[j] = -o[j]
            f[j] = f[j + 1]
            f[j + 1] = j + 1
        if j >= resync_digit:
            c = _resync(t, x, job_T, load)
            exact += 1
        if not c >= bm and fits_state(t, x, load):     # (NaN: priced)
            c = decision_cost(t, x)
            exact += 1
            if c < b:
                b = c
                bm = b + margin
                for q in range(x.size):     # (a loop: slice assignment compiles slowly)
                    best_x[q] = x[q]
    cur[0] = c
    best[0] = b
    return steps, exact, done


@jit
def _chain_tables(t0, low):
    """What :func:`_chain_walk` reads besides the tables, for an all-chain instance whose
    tables with ``job_tw`` zero are ``t0``: ``(mt, pv, nx, inc, binds)``.

    ``mt[l, 27 p + 9 q + 3 a + k]`` is ``(cost change, time change)`` of
    :func:`offbench.cost.move_delta` itself for walking layer ``l < low`` moved from tier ``a``
    to ``k`` (``|a - k| = 1``, the moves of one Gray step; the others are left 0) with ``p`` on
    the layer before it and ``q`` on the layer after it in its job (0 where there is none: the
    device's end of the chain). With ``job_tw`` zero the cost change is move_delta's own value
    before its tardiness term, bitwise. ``pv[l]``/``nx[l]``: where the walk's tier array holds
    those neighbours (``n``, an entry that stays 0, where there is none). ``inc[l]``: the load
    state's step count per move of ``l`` (2.0 for a layer with ops, 0 without, as
    :func:`offbench.cost.apply_move` counts). ``binds``: whether a capacity can bind at all
    (:func:`offbench.cost.tier_can_bind`; if not, every placement fits and the walk keeps no
    loads)."""
    n = t0.ops.size
    mt = np.zeros((low, 81, 2))
    pv = np.empty(low, dtype=np.int64)
    nx = np.empty(low, dtype=np.int64)
    inc = np.empty(low)
    x = np.zeros(n, dtype=np.int8)
    job_T = np.zeros(t0.offsets.size - 1)
    for l in range(low):
        i = t0.layer_job[l]
        first = l == t0.offsets[i]
        last = l == t0.offsets[i + 1] - 1
        pv[l] = n if first else l - 1
        nx[l] = n if last else l + 1
        inc[l] = 2.0 if t0.ops[l] != 0.0 else 0.0
        for p in range(3):
            for q in range(3):
                if not first:
                    x[l - 1] = p
                if not last:
                    x[l + 1] = q
                for a in range(3):
                    for k in range(3):
                        if a - k == 1 or k - a == 1:
                            x[l] = a
                            dc, dt = move_delta(t0, x, l, k, job_T)
                            mt[l, 27 * p + 9 * q + 3 * a + k, 0] = dc
                            mt[l, 27 * p + 9 * q + 3 * a + k, 1] = dt
        x[:] = 0
    binds = tier_can_bind(t0, 1) or tier_can_bind(t0, 2)
    return mt, pv, nx, inc, binds


#: The ``walk`` argument of :func:`_walk_worker` that walks step by step with
#: :func:`offbench.cost.apply_move` (:func:`_gray_walk`), but for its last entry (the
#: instance's :func:`drift_unit`); its tables are empty and never read.
STEP_WALK = (False, np.zeros((0, 81, 2)), np.zeros(0, dtype=np.int64),
             np.zeros(0, dtype=np.int64), np.zeros(0), True)


def walk_tables(t, low: int, min_layers: int = 0) -> tuple:
    """The ``walk`` argument of :func:`_walk_worker`: ``(True, *_chain_tables(...), unit)`` for
    an all-chain instance of at least ``min_layers`` layers (the walk by :func:`_chain_walk`),
    else ``(*STEP_WALK, unit)``; ``unit`` is :func:`drift_unit`."""
    unit = drift_unit(t)
    if t.ops.size < min_layers or t.job_dag.any():
        return (*STEP_WALK, unit)
    return (True, *_chain_tables(t._replace(job_tw=np.zeros_like(t.job_tw)), low), unit)


@jit(_nrt=False)
def _chain_step(t, mt, pv, nx, inc, xe, x, j, d, job_T, load, binds):
    """Move walking layer ``j`` of an all-chain instance one tier in direction ``d``, exactly as
    :func:`offbench.cost.apply_move` would (same cost change, time and loads, bitwise); return
    the cost change. The move's linear cost and time change come from the move table; the
    tardiness term is added as :func:`offbench.cost.move_delta` adds it."""
    a = x[j]
    k = a + d
    r = 27 * xe[pv[j]] + 9 * xe[nx[j]] + 3 * a + k
    dc = mt[j, r, 0]
    dt = mt[j, r, 1]
    i = t.layer_job[j]
    tw = t.job_tw[i]
    T0 = job_T[i]
    if tw > 0.0:
        dl = t.job_dl[i]
        dc += tw * (tardiness(T0 + dt, dl) - tardiness(T0, dl))
    job_T[i] = T0 + dt
    if binds:
        o = t.ops[j]
        load[a] -= o
        load[k] += o
        load[3] += inc[j]
    x[j] = k
    return dc


@jit(_nrt=False)
def _chain_walk(t, mt, pv, nx, inc, binds, xe, x, job_T, load, f, o, cur, best, best_x,
                resync_digit, margin=0.0):
    """:func:`_gray_walk` over a whole block of an all-chain instance (no budget): the same
    placements in the same order, the same running cost, loads and exact evaluations, so the
    same answer. Returns ``(steps, exact_evaluations)``.

    Digit 0 moves twice (0, 1, 2 or back) between two moves of the others, which follow
    Algorithm H on digits ``1 ..`` (``f[1] ..``, ``o[1] ..``): its moves are priced here with
    what is constant along them held in registers (layer 0 opens its job: nothing before it;
    the layer after it does not move meanwhile), the others by :func:`_chain_step`. Every
    move is :func:`offbench.cost.apply_move`'s, bitwise. When no capacity can bind
    (``binds`` false) the loads are not kept and every placement fits."""
    n = f.size - 1
    if n == 0:
        return 0, 0
    c = cur[0]
    b = best[0]
    bm = b + margin
    exact = 0
    steps = 0
    i0 = t.layer_job[0]
    tw0 = t.job_tw[i0]
    dl0 = t.job_dl[i0]
    o0 = t.ops[0]
    inc0 = inc[0]
    d0 = 1
    while True:
        # digit 0: two moves in direction d0, with layer 1's tier (q) fixed meanwhile
        r9 = 9 * xe[nx[0]]
        T0 = job_T[i0]
        for _ in range(2):
            a0 = x[0]
            k0 = a0 + d0
            r = r9 + 3 * a0 + k0
            dc = mt[0, r, 0]
            dt = mt[0, r, 1]
            if tw0 > 0.0:
                dc += tw0 * (tardiness(T0 + dt, dl0) - tardiness(T0, dl0))
            T0 = T0 + dt
            job_T[i0] = T0
            if binds:
                load[a0] -= o0
                load[k0] += o0
                load[3] += inc0
            x[0] = k0
            c += dc
            steps += 1
            if not c >= bm and (not binds or fits_state(t, x, load)):
                c = decision_cost(t, x)
                exact += 1
                if c < b:
                    b = c
                    bm = b + margin
                    for q in range(x.size):
                        best_x[q] = x[q]
        d0 = -d0
        # the next other digit, Algorithm H on digits 1 ..
        j = f[1]
        f[1] = 1
        if j == n:
            break
        c += _chain_step(t, mt, pv, nx, inc, xe, x, j, o[j], job_T, load, binds)
        steps += 1
        k = x[j]
        if k == 0 or k == 2:
            o[j] = -o[j]
            f[j] = f[j + 1]
            f[j + 1] = j + 1
        if j >= resync_digit:
            c = _resync(t, x, job_T, load)
            exact += 1
        if not c >= bm and (not binds or fits_state(t, x, load)):
            c = decision_cost(t, x)
            exact += 1
            if c < b:
                b = c
                bm = b + margin
                for q in range(x.size):
                    best_x[q] = x[q]
    cur[0] = c
    best[0] = b
    return steps, exact


def block_split(n: int) -> int:
    """Walking digits per block for ``n`` layers: blocks of at least ``3^9`` placements (so the
    per-block start, O(n), is noise), at most ``3^8`` blocks."""
    return min(n, max(BLOCK_DIGITS, n - 8))


@jit
def _walk_worker(t, low, b0, m, bound, resync_digit, out_cost, out_x, out_steps, out_exact,
                 counter, walk):
    """One worker: walk blocks ``b0 + q`` for the ``q < m`` it takes from the shared queue
    ``counter`` (:func:`offbench._numba.fetch_add`), each from a fresh state, until none is left.

    Block ``b`` fixes the digits ``low .. n-1`` to the base-3 digits of ``b`` and walks the
    first ``low`` in Gray order (:func:`_gray_walk`). Row ``q`` of the outputs gets the block's
    best placement strictly cheaper than ``bound`` (its cost, or ``bound`` when none; the row of
    ``out_x`` is written only when one was found), the placements visited and the exact
    evaluations. A block's answer depends on ``b`` and ``bound`` only, not on the worker or
    thread that walked it. The worker's state is allocated once, in its own thread, and nothing
    is written to shared memory during a block: the outputs once at its end.
    """
    n = out_x.shape[1]
    nj = t.offsets.size - 1
    chain, mt, pv, nx, inc, binds, unit = walk
    # the running cost's drift: at most `unit` a step, over the steps between two exact points
    # (a resync of the digits from resync_digit up, or the block's start)
    margin = unit * 3.0 ** min(resync_digit, low)
    xe = np.zeros(n + 1, dtype=np.int8)     # x and a last entry that stays 0 (_chain_step)
    x = xe[:n]
    job_T = np.empty(nj)
    load = np.zeros(4)
    f = np.empty(low + 1, dtype=np.int64)
    o = np.empty(low, dtype=np.int8)
    cur = np.empty(1)
    best = np.empty(1)
    best_x = np.zeros(n, dtype=np.int8)
    budget = np.int64(3) ** low
    while True:
        q = fetch_add(counter, 1)
        if q >= m:
            break
        r = b0 + q
        for j in range(low):
            x[j] = 0
            o[j] = 1
            f[j] = j
        f[low] = low
        for j in range(low, n):
            x[j] = r % 3
            r //= 3
        c = _resync(t, x, job_T, load)
        best[0] = bound
        if c < bound and fits_state(t, x, load):
            best[0] = c
            for j in range(n):
                best_x[j] = x[j]
        cur[0] = c
        if chain:
            steps, ex = _chain_walk(t, mt, pv, nx, inc, binds, xe, x, job_T, load, f, o, cur,
                                    best, best_x, resync_digit, margin)
        else:
            steps, ex, done = _gray_walk(t, x, job_T, load, f, o, cur, best, best_x, budget,
                                         resync_digit, margin)
        out_cost[q] = best[0]
        if best[0] < bound:
            for j in range(n):
                out_x[q, j] = best_x[j]
        out_steps[q] = steps + 1
        out_exact[q] = ex + 1


@pjit
def _walk_blocks(t, low, b0, b1, bound, resync_digit, out_cost, out_x, out_steps, out_exact,
                 counter, n_workers, walk):
    """Walk blocks ``b0 .. b1 - 1`` on ``n_workers`` workers in parallel (``prange``, one per
    thread), sharing the blocks through the queue ``counter`` (:func:`_walk_worker`)."""
    for w in prange(n_workers):
        _walk_worker(t, low, b0, b1 - b0, bound, resync_digit, out_cost, out_x, out_steps,
                     out_exact, counter, walk)


class Exhaustive(Solver):
    """Enumerate all 3^n placements (Gray order, O(1) per placement); exact.

    Refuses instances with more than ``max_layers`` layers in total (3^n grows fast:
    3^16 = 4.3e7 placements take about a second, 3^18 = 3.9e8 about ten). With a time limit it
    stops with status ``timeout`` and the best placement seen so far. Status ``optimal`` means
    every placement was priced. See the module docstring for the drift control and ties.
    """

    name = "exhaustive"
    version = 1
    guarantee = "exact"
    handles_dag = True      # the move kernels price DAG jobs (SPEC.md section 7)
    reference_role = "exact"
    reference_rank = 20

    @classmethod
    def exact_for(cls, inst):
        """Asked by the reference chain up to :data:`REFERENCE_MAX_LAYERS` layers."""
        return inst.n_layers <= REFERENCE_MAX_LAYERS
    params = (
        Param("max_layers", int, 18, low=1, high=39,
              doc="refuse instances with more layers than this (3^max_layers placements)"),
    )

    def _solve(self, inst, ctx):
        n = inst.n_layers
        if n > self.max_layers:
            # dp refuses DAG jobs; there the exact alternatives are mincut and milp
            alt = ("mincut (exact when capacities and deadlines do not bind) or milp"
                   if inst.is_dag else "dp or milp")
            hint = (f"Raise max_layers (--param max_layers={n}) if that is really meant, or use "
                    f"{alt}." if n <= 39 else f"Use {alt}.")
            raise Unsupported(
                f"exhaustive search over {n} layers would visit 3^{n} (about "
                f"10^{n * math.log10(3):.0f}) placements; the limit is max_layers="
                f"{self.max_layers} (3^{self.max_layers} = {3 ** self.max_layers:,}). {hint}")
        t = tables(inst)
        x = np.zeros(n, dtype=np.int8)
        job_T, load = new_move_state(inst, x)
        best = _resync(t, x, job_T, load)   # all-device: the first placement, always feasible
        best_x = x.copy()
        low = block_split(n)
        resync_digit = min(RESYNC_DIGIT, low)
        walk = walk_tables(t, low, CHAIN_MIN_LAYERS)
        n_blocks = 3 ** (n - low)
        total = 3 ** n
        visited = 0
        exact = 1
        threads = ctx.threads
        block = 3 ** low
        rate = 0.0                  # blocks per second on `threads` threads (0: not measured)
        b0 = 0
        with numba_threads(threads):
            while b0 < n_blocks:
                left = ctx.time_left()
                if left <= 0:
                    break
                if rate == 0.0:     # nothing measured yet: the guess, and a short first batch
                    est = RATE_GUESS * threads / block
                    target = CHUNK_SECONDS if math.isinf(left) else min(CHUNK_SECONDS, left / 8)
                else:
                    est = rate
                    target = CHUNK_SECONDS if math.isinf(left) else min(CHUNK_SECONDS, left / 2)
                m = min(max(threads, int(est * target)), n_blocks - b0)
                nw = workers(m)
                if nw > 1 and m * threads / est < PARALLEL_MIN_SECONDS:
                    nw = 1
                cost = np.empty(m)
                xs = np.zeros((m, n), dtype=np.int8)
                steps = np.empty(m, dtype=np.int64)
                ex = np.empty(m, dtype=np.int64)
                counter = np.zeros(1, dtype=np.int64)
                t0 = time.perf_counter()
                if nw == 1:     # no parallel region: no worker thread to wake and wait for
                    _walk_worker(t, low, b0, m, best, resync_digit, cost, xs, steps, ex, counter,
                                 walk)
                else:
                    _walk_blocks(t, low, b0, b0 + m, best, resync_digit, cost, xs, steps, ex,
                                 counter, nw, walk)
                dt = time.perf_counter() - t0
                visited += int(steps.sum())
                exact += int(ex.sum())
                q = int(np.argmin(cost))            # the lowest block on ties
                if cost[q] < best:
                    best = float(cost[q])
                    best_x = xs[q].copy()
                b0 += m
                if dt > 0:
                    rate = m * (threads if nw == 1 else 1) / dt
        done = b0 >= n_blocks
        ctx.charge(visited + exact)
        info = {"placements": visited, "of": total, "exact_evaluations": exact}
        if done:
            return Proposal(best_x, status="optimal", objective=best, info=info)
        return Proposal(best_x, status="timeout", objective=best, info=info)
