"""The MILP of SPEC.md section 7 with capacities and deadlines (``milp``, ``lp-bound`` on DAGs).

Instances with DAG jobs are solved by this model (``milp``'s and ``lp-bound``'s chain
formulations read chain-only tables); chain jobs of such an instance enter it as the DAG with
edges ``(j, j+1)``. Every coefficient comes from :mod:`offbench.dag` (``compute_costs``,
``hop_costs``: the cost model's formulas), none is re-derived here.

The model (:func:`dag_model`)
-----------------------------
Per job ``i`` and node ``v``: two ordered-tier binaries, ``z1(v)`` ("v is above the device")
and ``z2(v)`` ("v is on the cloud"), with ``z2(v) <= z1(v)``; for the device, ``z1 = z2 = 0``.
The one-hot placement is the linear map ``x[v, 0] = 1 - z1``, ``x[v, 1] = z1 - z2``, ``x[v, 2] =
z2`` (so a node's compute is ``c0 + (c1 - c0) z1 + (c2 - c1) z2``, the sum of the ``c0`` a
column fixed at 1, and the time row moves the all-device time to its right-hand side). A *transfer* is data leaving a source ``a`` (a node, or
the device for the job's input) once for a set of destinations ``D`` (and the device, for an
exit node's output): the input (device -> entry nodes), each node's shared output (``out_bits``,
to all its successors, and to the device if it is an exit) and each edge's own message (to its
head alone). With ``M = max(D)`` and ``m = min(D)`` (the device counting as tier 0), the union of
the paths from ``a`` to ``D`` on the line of tiers crosses (:mod:`offbench._maxflow`'s (1))

* the up hop iff ``z1(a) = 0`` and ``M >= 1``, the backhaul upwards iff ``z2(a) = 0`` and
  ``M >= 2``,
* the down hop iff ``z1(a) = 1`` and ``m = 0``, the backhaul downwards iff ``z2(a) = 1`` and
  ``m <= 1``.

Each is a continuous indicator ``h in [0, 1]`` (the backhaul has one per direction) with a row
for each destination ``b``: ``h >= z1(b) - z1(a)`` (up), ``h >= z2(b) - z2(a)`` (backhaul up),
``h >= z1(a) - z1(b)`` (down), ``h >= z2(a) - z2(b)`` (backhaul down); the device as a
destination is ``z = 0``, as the input's source too. At binary ``x`` the smallest feasible ``h``
is exactly the hop's indicator, and nothing in the model gains from a larger one (its cost, and
its time in the tardiness row, are non-negative), so the model's optimum is the cost model's.

**Without capacities and deadlines the LP's optimum is the minimum cut's.** Write ``y_1 = z1``,
``y_2 = z2`` (``0 <= y_2 <= y_1 <= 1``), and take an optimal
LP solution, where each ``h`` is at its least value, e.g. ``max(0, max_b y_1(b) - y_1(a))`` for
the up hop. For ``theta`` in (0, 1) the rounding ``x^theta = [y_1 > theta] + [y_2 > theta]`` is a
decision; its compute is linear in the ``[y > theta]``, and its up hop is crossed iff ``y_1(a) <=
theta < max_b y_1(b)``, so over a uniform ``theta`` the expected price of that hop is exactly
the LP's ``h`` (likewise down: ``min_b y_1(b) <= theta < y_1(a)``, and both backhaul directions
with ``y_2``). The expected price of ``x^theta`` is the LP's optimum, so some rounding costs no
more: the LP optimum is the integer optimum (``tests/test_dag_milp.py`` checks it against
``mincut`` on random DAGs). This needs one backhaul indicator per direction: one indicator for
both (``h >= |z2(b) - z2(a)|``) is the larger of the two where the rounding pays their sum, and
left the LP up to 0.5% below the optimum (on 14 of 150 random instances of 3 DAGs of 5-14
nodes; equal on all 150 now). The minimum
cut's auxiliary "how far up / how far down" variables (``u_k >= z_k(b)`` for every ``b`` and
one row per hop) make the matrix totally unimodular, every vertex integral, but give the same
LP value and made HiGHS's branch and bound 1.6-1.9 times slower on the bench's 20 x 25
instances with capacities and deadlines (CPU seconds; the rows per destination: as fast as the
old model), so the model keeps a row per destination.

**Why ordered-tier binaries and not one-hot ones.** The LP is the same (a linear bijection), but
the one-hot model lets HiGHS branch on ``x[v, 1] = 0``, "v on the device or the cloud", a
branch that is not an interval of the ordered tiers and breaks the minimum-cut structure the
proof above rests on; ``z1`` and ``z2`` branch only into intervals ({device} against {edge,
cloud}, {device, edge} against {cloud}). On the bench's 20 x 25 instances (tuning seeds only;
HiGHS on the model milp hands it, one thread, CPU seconds to the proof, loaded 2-core
machine): seed 4 21.7 s and 792 nodes (one-hot: 57.8 s, 2,223 nodes), seed 108 15.5 s and
316 nodes (31.1 s, 739), seed 100 7.2 s and 9 nodes (7.6 s, 11), seed 0 62.0 s and 2,077
nodes (57.3 s, 1,660): its bound moves faster
(0.64654 after 1,077 nodes, one-hot 0.64569 after 1,065; the optimum 0.64716), but HiGHS
found the optimum later (node 1,561 against 924). Evaluated once, on seeds 5-14 of
``bench_dag_milp.py --first 5 --seeds 10 --no-lp`` (load 5-10, time limits of 900 s and 300 s
of wall so that the CPU time decides): 10 of 10 proven, CPU median 2.6 s; seed 12 in 54.2 s of
CPU and 1,982 nodes, where the one-hot model stopped at 300 s of wall after 43.6 s of CPU and
1,088 nodes at a gap of 2.2e-3 (and, an earlier session, 171 s of CPU and 12,997 nodes at
0.07%); the other nine 0.4-8.1 s of CPU (one-hot 0.4-7.9 s). The figures in the rest of this
docstring (step 3 below, the options and what was tried and dropped) were measured on the
one-hot model.

Per job, ``T_i`` is the linear expression ``sum x[v, k] time(v, k) + sum h * hop time``; with a
deadline and a tardiness weight, ``U_i >= T_i - d_i``, ``U_i >= 0`` costs ``job_tw[i] * U_i``.
Capacities: ``sum ops[v] x[v, 1] <= cap_edge`` and likewise for the cloud (rows that cannot bind
are left out, :class:`~offbench_solvers._paths.Capacities`; the limit includes the cost model's
tolerance). Scaling as in the chain transition model: capacity rows in units of the capacity,
tardiness rows (and ``U_i``) in units of the job's deadline (the chain model's unit, the
largest possible time, left the priced cost up to 7e-8 above the back end's objective on the
bench's 20 x 25 instances), the objective in a caller's unit.

Solving (:func:`solve`, ``milp``'s hook)
---------------------------------------
1. A certified lower bound and a warm start: the per-job minimum cut without capacities and
   deadlines (:func:`offbench_solvers.mincut.solve_relaxation`; its optimum minus its stated
   rounding is a lower bound), its decision repaired and improved by single-node moves
   (:func:`~offbench_solvers._repair.repair_and_improve`, the cost model's move kernels), and the
   all-device decision: the incumbent is the cheapest feasible one.
2. The model above; its LP relaxation (OR-Tools Glop) gives a second certified bound (the
   duals turned into a bound valid for any multipliers,
   :func:`~offbench_solvers._transition.safe_dual_bound`) and more incumbents: each node on its
   largest ``x[v, k]``, and up to 16 threshold roundings of the LP solution
   (:func:`threshold_roundings`), each repaired and improved (on the bench's seed 0 the best
   threshold rounding cost 158.1 where the largest ``x[v, k]`` gave 176.6).
3. The model on ``milp``'s back end (:func:`~offbench_solvers._backends.solve_linear`; CP-SAT
   takes only the chain path model and is refused on DAG jobs), relative gap ``MIP_GAP``,
   tolerances ``FEAS_TOL``, and the time left after the model is built. HiGHS (``highs`` or
   ``highspy``) runs through its own API, highspy: the incumbent is its starting solution
   (``setSolution``) and its cutoff, its incumbent and dual bound come back at a time limit
   (OR-Tools' interface takes no start and returns neither), ``mip_heuristic_effort`` is
   :data:`HEURISTIC_EFFORT`. On the bench's 20 x 25 instances the time goes to finding the
   optimum, not to the bound: on seed 0, started from the optimum HiGHS proves it in 14 s of
   CPU (710 nodes); from milp's incumbent (3.8% above) at the default effort, it finds the
   optimum after about 64 s and 6,600 nodes; at 0.3, proven in 28 s and 1,675 nodes. SCIP
   gets the incumbent as a hint; CBC nothing.
4. ``milp``'s own ending (:meth:`MILP._assemble`): the decision re-priced by the cost model (a
   capacity slipped by the tolerance is repaired), the bound the largest of the minimum cut's,
   the LP's and the back end's lowered by its tolerances, ``optimal`` only when the cost is
   within the chain milp's tolerance of that bound; else ``timeout``/``feasible`` with the
   bound. (When the minimum cut's or the LP's bound already proves the incumbent to 1e-9
   relative, the back end is not started.) Where the back end fails, calls the model infeasible
   (it holds the incumbent) or returns an objective the cost model disagrees with (beyond
   ``Solver.solve``'s test), as at SPEC.md's extremes, where the scaled objective is a constant
   of about 1 against coefficients of about -1 for an optimum of 1e-20 units, neither its
   objective nor its bound is used: the incumbent (or its decision, priced by the cost model)
   with the minimum cut's and the LP's certified bounds, ``optimal`` only when they prove it.

Tried on seed 0 and dropped (it did not help): the Lagrangian dual of the capacity rows by
column generation, each job priced exactly (the model without capacity rows, tardiness
included): its bound, 151.79, is above the LP's 150.72 (the optimum is 152.27), but the
per-job cuts ``cost_i + lambda . load_i >= phi_i(lambda)`` that lift the LP to it stalled HiGHS
at exactly that bound (3,264 nodes in 44 s of CPU, the bound never moved; incumbent 153.06);
the restricted master MILP over the generated job columns gave 157.64 (the columns are the
Lagrangian-optimal placements, the optimum needs others); re-optimizing random sets of 4 jobs
with the others fixed reached 153.8 in 10 s. Pricing by the minimum cut (fast, but blind to
tardiness) did not move the master.

Where the proof's time goes, and more that was tried and dropped (for issue 15's goal; tuning
seeds 0, 4, 100 and 103 only, the evaluation seeds 5-14 not looked at; loaded 2-core machine,
CPU seconds, the 45-50 s HiGHS runs in a raised-priority autogroup). A scan of seeds 100-139 at
8 s of wall (load 5-6, 1.4-4.7 s of CPU each) proved 18: too short at that load to rank the
others. On seed 0 the LP gives 150.72, HiGHS's root cuts 151.03, the
optimum is 152.27, and the exact per-job Lagrangian above 151.79: about two thirds of the root
gap is each job's deadline acting as a budget on its own time (a knapsack inside the job), the
rest the two capacity knapsacks. From milp's 158.1, HiGHS's own sub-MIPs reach 152.31 within
14-20 s of CPU and the optimum later; the rest of the time goes to the bound (at 45-50 s of
wall, gap 2.2e-3 to 2.3e-3 after about 1,150 nodes).

* A disjunctive (on time / late) tardiness, the convex hull of the two cases by disaggregated
  copies of each late-able job's placements and hops (``x = x0 + x1``, ``T(x0) <= d (1 - w)``,
  ``U >= T(x1) - d w``): the LP bound is unchanged on seeds 0, 4, 100 and 103 (150.7194,
  73.3590, 186.9537, 690.8001), with twice the model (10,627 rows x 8,380 columns on seed 0,
  was 5,481 x 4,157). The LP does not mix a late and an on-time decision; it spreads single
  placements fractionally to meet the deadline exactly, which the disjunction leaves as is.
* Lagrangian probing by minimum cut (the chain milp's step 3 on DAGs): the LP's capacity and
  tardiness duals as multipliers (``lam >= 0``, ``0 <= mu_i <= tw_i``, the per-job problem
  ``min cost + lam . load + mu_i (T_i - d_i)`` is a minimum cut, :mod:`offbench_solvers.mincut`'s
  energy with the time from the same instance at unit weights) give 150.71937, the LP's bound
  to the 8th digit (the LP is this Lagrangian dual: each job's LP alone is its minimum cut).
  Each placement probed by a cut with the node forced to its tier (all of a job's probes in
  one max-flow call, 0.1 s for the 1,000 placements the cut does not take): 185 of them can be
  fixed to 0 at milp's incumbent 158.11, 289 at the optimum; with ``mu_i`` maximized per probe
  on a 9-point grid, 196 and 297. HiGHS with the 185 fixings, 50 s of wall: 30.9 s of CPU,
  1,169 nodes, gap 2.2e-3; without, 37.5 s, 1,155 nodes, 2.3e-3: no gain worth its code. A
  restricted MILP with 320 placements fixed (probe above 15% of the gap) found 152.31 in
  13.7 s of CPU, no sooner than HiGHS's own sub-MIPs on the whole model.
* Placement-time rows: with ``tmin(v, k)`` the least time of the job over the decisions that
  put ``v`` on ``k`` (a minimum cut of the job's time, :mod:`offbench_solvers.mincut`'s energy
  at unit weights, ``w.time = 1``, ``w.energy = 0``, ``v`` forced to ``k``; checked against
  exhaustive search), one row per node of a job with a deadline,
  ``U_i >= sum_k max(0, tmin(v, k) - d_i) x[v, k]`` (valid at every decision: one ``x[v, k]``
  is 1). The LP bound rises on seed 0 from 150.72 to 151.05 and on seed 103 from 690.80 to
  711.17 (unchanged on seeds 4 and 100), but HiGHS's own root cuts get most of it (151.03 on
  seed 0; on seed 103 its bound reaches the rows' level after its first branching). Proofs
  without a time limit (load 7-8): seed 0 57.5 s of CPU and 1,890 nodes with the rows, 57.3 s
  and 1,660 nodes without; seed 4 46.5 s and 1,410 nodes with, 57.8 s and 2,223 nodes without;
  seed 103 at 45 s of wall: bound 0.5359 with, 0.5357 without (scaled unit), gap 2.5% and
  1.9% (HiGHS found another incumbent without). One gain, one loss in nodes: not enough to
  keep them without a wider A/B on quiet cores.
* HiGHS options on seed 0 at 45 s of wall: ``mip_allow_restart = false`` gap 3.6e-3 (1,012
  nodes), ``mip_pscost_minreliable = 2`` 2.3e-3 (1,152 nodes): neither better than the
  defaults (2.3e-3 at 50 s).
* ``local-search`` for the incumbent: 215.2 on seed 0 (the LP roundings give 158.1).

``lp-bound`` on DAG jobs solves the LP relaxation of the same model with cvxpy and certifies its
bound from the duals (:func:`~offbench_solvers._transition.safe_dual_bound`); each node takes
its largest ``x[v, k]``, then repair and descent.
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from offbench.cost import all_device_cost, evaluate, tables
from offbench.dag import compute_costs, hop_costs, job_graph
from offbench.solver import Proposal, Unsupported

from . import _formulation as F
from ._backends import solve_linear
from ._transition import DEAR_FACTOR, ROW_RANGE

#: HiGHS's ``mip_heuristic_effort`` on the DAG model (HiGHS's default is 0.05). On the bench's
#: seed 0 (20 x 25, capacities and deadlines) the default found the optimum after about 64 s
#: of CPU and 6,600 nodes; at 0.3, within 23 s and 1,200 nodes; from the optimum the proof
#: takes 14 s and 710 nodes: the search for the incumbent, not the bound, is what takes time.
HEURISTIC_EFFORT = 0.3

UP, DOWN, BACKHAUL = 0, 1, 2  # offbench.dag.HOPS order
BACKHAUL_DOWN = 3             # the backhaul crossed downwards (its own indicator)


class _Builder:
    """Rows and columns of a sparse model, appended in order."""

    def __init__(self):
        self.obj: list[float] = []
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.integer: list[bool] = []
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.row_lo: list[float] = []
        self.row_hi: list[float] = []

    def var(self, cost, lb=0.0, ub=1.0, integer=False) -> int:
        self.obj.append(float(cost))
        self.lb.append(lb)
        self.ub.append(ub)
        self.integer.append(integer)
        return len(self.obj) - 1

    def row(self, terms, lo, hi) -> int:
        r = len(self.row_lo)
        for c, v in terms:
            if v != 0.0:
                self.rows.append(r)
                self.cols.append(c)
                self.vals.append(float(v))
        self.row_lo.append(lo)
        self.row_hi.append(hi)
        return r


def dag_model(inst, scale: float | None = None, caps=None, fix_dear: bool = True
              ) -> F.LinearModel:
    """The model of the module docstring as a scaled :class:`~offbench_solvers._transition.
    LinearModel` (``decode`` takes each node's largest ``x[v, k]``, the map of the module
    docstring; ``encode`` a decision's ``z1, z2``). ``scale``: the objective unit (default
    :func:`~offbench_solvers._paths.objective_scale`). ``fix_dear=False`` keeps placements and
    hops that cost alone more than :data:`~offbench_solvers._transition.DEAR_FACTOR` times the
    all-device decision (tests price every decision with it)."""
    caps = F.Capacities.of(inst) if caps is None else caps
    scale = F.objective_scale(inst) if scale is None else float(scale)
    t = tables(inst)
    b = _Builder()
    zcol = np.empty((inst.n_layers, 2), dtype=np.int64)   # z1, z2 of each node
    inf = math.inf
    dear = DEAR_FACTOR * all_device_cost(inst) if fix_dear else math.inf
    # The constant part of the objective (every node's device cost): a column fixed at 1.
    one = b.var(0.0, lb=1.0, ub=1.0)
    const = 0.0
    for i in range(inst.n_jobs):
        g = job_graph(inst, i)
        L = g.n_nodes
        l0 = int(inst.layer_offsets[i])
        comp_c = compute_costs(inst, i)
        comp_t = compute_costs(inst, i, "time")
        # x[v, 0] = 1 - z1, x[v, 1] = z1 - z2, x[v, 2] = z2: the compute of v is
        # c0 + (c1 - c0) z1 + (c2 - c1) z2 (likewise its time), with z2 <= z1.
        # A node on a tier whose compute costs alone more than DEAR_FACTOR times the all-device
        # decision, or a hop that does, is in no optimal decision (a decision's cost is a float
        # sum of non-negative terms, never below one of them; the device's compute never is):
        # the cloud's gives z2 = 0, the edge's z1 = z2, a hop's h = 0, and their costs and
        # times leave the model (costs of 1e20 objective units are infinite to SCIP and to
        # HiGHS under cvxpy). With z1 = z2, (c1 - c0) z1 + (c2 - c1) z2 is (c2 - c0) z1.
        tw, dl = float(t.job_tw[i]), float(t.job_dl[i])

        def too_dear(cost, tm):
            """Whether a placement or hop costs alone, or makes the job's tardiness cost alone,
            more than DEAR_FACTOR times the all-device decision (the job's time is at least any
            one of its node's or hop's times)."""
            return cost > dear or (tw > 0.0 and tw * (tm - dl) > dear)

        time_terms = []
        for v in range(L):
            c, tm = comp_c[v], comp_t[v]
            dear_e, dear_c = too_dear(c[1], tm[1]), too_dear(c[2], tm[2])
            if dear_c:
                a1, a2, t1, t2 = c[1] - c[0], 0.0, tm[1] - tm[0], 0.0
            elif dear_e:
                a1, a2, t1, t2 = c[2] - c[0], 0.0, tm[2] - tm[0], 0.0
            else:
                a1, a2, t1, t2 = c[1] - c[0], c[2] - c[1], tm[1] - tm[0], tm[2] - tm[1]
            if dear_e and dear_c:
                a1 = t1 = 0.0
            zcol[l0 + v, 0] = b.var(a1 / scale, ub=0.0 if dear_e and dear_c else 1.0,
                                    integer=True)
            zcol[l0 + v, 1] = b.var(a2 / scale, ub=0.0 if dear_c else 1.0, integer=True)
            b.row([(zcol[l0 + v, 1], 1.0), (zcol[l0 + v, 0], -1.0)], -inf, 0.0)
            if dear_e and not dear_c:
                b.row([(zcol[l0 + v, 0], 1.0), (zcol[l0 + v, 1], -1.0)], -inf, 0.0)
            time_terms += [(zcol[l0 + v, 0], t1), (zcol[l0 + v, 1], t2)]
        const += float(np.sum(comp_c[:, 0]))
        t_device = float(np.sum(comp_t[:, 0]))
        t_max = float(np.sum(np.max(comp_t, axis=1)))

        def z1(v):
            return [] if v is None else [(zcol[l0 + v, 0], 1.0)]

        def z2(v):
            return [] if v is None else [(zcol[l0 + v, 1], 1.0)]

        def neg(terms):
            return [(c, -a) for c, a in terms]

        def transfer(src, dests, to_device, bits):
            nonlocal t_max
            hc = hop_costs(inst, i, float(bits))
            ht = hop_costs(inst, i, float(bits), "time")

            def hop(which, rows):
                """The hop's indicator h with the rows ``h + terms >= lo`` of ``rows``."""
                cost, tm = (hc[BACKHAUL], ht[BACKHAUL]) if which >= BACKHAUL else (hc[which],
                                                                                   ht[which])
                if too_dear(cost, tm):      # (module comment above: h = 0)
                    h = b.var(0.0, ub=0.0)
                else:
                    h = b.var(cost / scale)
                    time_terms.append((h, tm))
                for terms, lo in rows:
                    b.row([(h, 1.0)] + terms, lo, inf)

            t_max += max(ht[UP], ht[DOWN]) + ht[BACKHAUL]
            if src is None:                 # the input, from the device: up to max(dests)
                hop(UP, [(neg(z1(d)), 0.0) for d in dests])
                hop(BACKHAUL, [(neg(z2(d)), 0.0) for d in dests])
                return
            if to_device:                   # an exit node's output: down to the device
                hop(DOWN, [(neg(z1(src)), 0.0)])
                hop(BACKHAUL_DOWN, [(neg(z2(src)), 0.0)])
                return
            # h_up >= z1(b) - z1(a), h_bup >= z2(b) - z2(a), h_down >= z1(a) - z1(b),
            # h_bdown >= z2(a) - z2(b), a row for each destination b
            hop(UP, [(neg(z1(d)) + z1(src), 0.0) for d in dests])
            hop(BACKHAUL, [(neg(z2(d)) + z2(src), 0.0) for d in dests])
            hop(DOWN, [(z1(d) + neg(z1(src)), 0.0) for d in dests])
            hop(BACKHAUL_DOWN, [(z2(d) + neg(z2(src)), 0.0) for d in dests])

        succ = [g.succ(v).tolist() for v in range(L)]
        indeg = np.bincount(g.dst, minlength=L)
        transfer(None, [v for v in range(L) if indeg[v] == 0], False, g.in_bits)
        for v in range(L):
            transfer(v, succ[v], not succ[v], g.out_bits[v])
        for e in range(g.src.size):
            if g.edge_has_bits[e]:
                transfer(int(g.src[e]), [int(g.dst[e])], False, g.edge_bits[e])

        if tw > 0.0 and math.isfinite(dl) and t_max > dl:
            # The row's unit: the deadline (of the order of the job's time; the longest time
            # t_max can be far larger, and a row violated by the back end's tolerance lets
            # U_i fall short by that tolerance times the unit), but at most the time whose
            # tardiness costs one objective unit (a deadline of 0 and t_max = 5e7 s against an
            # all-device cost of 1e-12 gave u a cost of 5e19 units, infinite to SCIP).
            ts = dl if dl > 0 else (t_max if t_max > 0 else 1.0)
            kept = max([abs(a) for _, a in time_terms] + [dl])
            ts = min(ts, max(scale / tw, kept / ROW_RANGE))   # (as the chain model's)
            u = b.var(tw * ts / scale, ub=max(0.0, (t_max - dl) / ts) * (1 + 1e-9) + 1e-12)
            # (T_i - the all-device compute time) / ts - u <= (d_i - that time) / ts
            b.row([(c, a / ts) for c, a in time_terms] + [(u, -1.0)], -inf,
                  (dl - t_device) / ts)
    ops = inst.ops
    # A node whose ops alone exceed a tier's capacity cannot run there (a load is a float sum of
    # non-negative ops, never below one of its terms): over the cloud's, z2 = 0; over the
    # edge's, z1 = z2 (a row z1 <= z2 beside z2 <= z1; z1 = 0 when over both). Such a node is
    # left out of that tier's row, which keeps every coefficient at most 1 (a capacity of
    # 1e-275 under an op of 1 gave a coefficient of 1e275, a model OR-Tools' HiGHS refuses) and
    # the LP as strong as the path formulation's pricing
    # (:func:`~offbench_solvers._chain.priced_tables`).
    over_e = ~(t.ops <= t.cap[1])
    over_c = ~(t.ops <= t.cap[2])
    for l in np.nonzero(over_c)[0]:
        b.ub[zcol[l, 1]] = 0.0
        if over_e[l]:
            b.ub[zcol[l, 0]] = 0.0
    for l in np.nonzero(over_e & ~over_c)[0]:
        b.row([(zcol[l, 0], 1.0), (zcol[l, 1], -1.0)], -inf, 0.0)
    for k in range(2):
        if caps.active[k]:
            rs = float(caps.row_scale[k])
            # the edge's load: ops . (z1 - z2); the cloud's: ops . z2
            ls = [l for l in range(inst.n_layers) if not (over_e if k == 0 else over_c)[l]]
            terms = [(zcol[l, 1], ops[l] / rs) for l in ls]
            if k == 0:
                terms = [(zcol[l, 0], ops[l] / rs) for l in ls] + [(c, -a) for c, a in terms]
            b.row(terms, -inf, float(caps.cap[k]) / rs)
    b.obj[one] = const / scale
    n = len(b.obj)
    A = sp.csr_matrix((b.vals, (b.rows, b.cols)), shape=(len(b.row_lo), n))
    zc = zcol.copy()

    def decode(v):
        v = np.asarray(v, dtype=float)
        y1, y2 = v[zc[:, 0]], v[zc[:, 1]]
        return np.argmax(np.stack([1.0 - y1, y1 - y2, y2], axis=1), axis=1).astype(np.int8)

    def encode(x):
        x = np.asarray(x, dtype=np.int64)
        out = np.zeros(n)
        out[one] = 1.0
        out[zc[:, 0]] = x >= 1
        out[zc[:, 1]] = x == 2
        return out

    return F.LinearModel(np.asarray(b.obj), A, np.asarray(b.row_lo), np.asarray(b.row_hi),
                         np.asarray(b.lb), np.asarray(b.ub), np.asarray(b.integer, dtype=bool),
                         scale, decode, encode)


def encode_hops(lm: F.LinearModel, x: np.ndarray) -> np.ndarray:
    """A full solution vector for decision ``x``: its ``z1, z2`` and every continuous
    variable at the least value its rows allow (the hop indicators and tardiness), for a hint."""
    v = lm.encode(x)
    cont = np.nonzero(~lm.integer)[0]
    v[cont] = lm.lb[cont]
    A = lm.A.tocsr()
    # Each row's own variable is raised to what it needs, in passes until nothing moves: the
    # auxiliary "how far" variables first, then the hop indicators that read them, then the
    # tardiness that reads the hops (three passes and a last one that changes nothing).
    for _ in range(6):
        act = A @ v
        v0 = v.copy()            # act's values: a variable raised by one row keeps its place
        lo_short = np.isfinite(lm.row_lo) & (act < lm.row_lo)
        hi_over = np.isfinite(lm.row_hi) & (act > lm.row_hi)
        for r in np.nonzero(lo_short | hi_over)[0]:
            s, e = A.indptr[r], A.indptr[r + 1]
            cols, vals = A.indices[s:e], A.data[s:e]
            # The row's own variable: h, u_k or w_k (coefficient +1, a >= row) or the
            # tardiness U (-1, a <= row).
            want = 1.0 if lo_short[r] else -1.0
            c = [(j, a) for j, a in zip(cols, vals) if not lm.integer[j] and a * want > 0]
            if len(c) != 1:
                continue
            j, a = c[0]
            rest = act[r] - a * v0[j]
            target = (lm.row_lo[r] if lo_short[r] else lm.row_hi[r]) - rest
            v[j] = min(lm.ub[j], max(v[j], target / a))
        if not (lo_short | hi_over).any():
            break
    return v


def lp_relaxation(lm: F.LinearModel, deadline: float):
    """The LP relaxation of ``lm`` by OR-Tools Glop within ``deadline`` (a
    ``time.perf_counter()`` value): ``(values, row duals as d(value)/d(rhs))``, or None when it
    did not finish. Its value is not trusted: :func:`~offbench_solvers._transition.
    safe_dual_bound` turns the duals into a certified bound."""
    from ortools.linear_solver.python import model_builder as mb

    m = mb.Model()
    m.helper.fill_model_from_sparse_data(lm.lb, lm.ub, lm.obj, lm.row_lo, lm.row_hi, lm.A)
    left = deadline - time.perf_counter()
    if not left > 0.0:
        return None
    s = mb.Solver("glop")
    s.enable_output(False)
    if math.isfinite(left):
        s.set_time_limit_in_seconds(max(0.01, left))
    if s.solve(m) != mb.SolveStatus.OPTIMAL:
        return None
    return (np.asarray(s.values(m.get_variables()), dtype=float),
            np.asarray(s.dual_values(m.get_linear_constraints()), dtype=float))


def threshold_roundings(lm: F.LinearModel, values, limit: int | None = 16) -> list:
    """The decisions ``[y_1 > theta] + [y_2 > theta]`` of an LP solution (``y_1 = z1``,
    ``y_2 = z2``; the module docstring's proof), one ``theta`` between each pair of
    consecutive distinct values of the y's (at most ``limit`` of them, spread evenly; ``None``:
    all). Without capacities and deadlines the best of all of them is optimal."""
    y = np.asarray(values, dtype=float)[lm.integer].reshape(-1, 2)
    y1, y2 = y[:, 0], y[:, 1]
    cuts = np.unique(np.round(np.concatenate(([0.0, 1.0], np.clip(y1, 0, 1),
                                              np.clip(y2, 0, 1))), 12))
    thetas = (cuts[:-1] + cuts[1:]) / 2
    if limit is not None and thetas.size > limit:
        thetas = thetas[np.linspace(0, thetas.size - 1, limit).round().astype(int)]
    return [((y1 > th).astype(np.int8) + (y2 > th)).astype(np.int8) for th in thetas]


def solve(solver, inst, ctx, budget, traj, info, bounds=None) -> Proposal:
    """``milp`` on an instance with DAG jobs (module docstring); ``solver`` is the
    :class:`~offbench_solvers.milp.MILP` (its back end, threads and :meth:`_assemble`),
    ``budget``/``traj``/``info`` its deadline, trajectory and info; ``bounds`` its
    :class:`~offbench_solvers._milp_parts.BoundTrajectory`: the minimum cut's bound, the LP's,
    then (highspy) the back end's dual bound as it runs, lowered by its tolerances and capped at
    the incumbent the model was built around (its cutoff), and HiGHS's improving solutions go
    into ``traj`` as they are found, priced by the cost model."""
    from ._milp_parts import Round, lowered_bound
    from .mincut import solve_relaxation

    def add_bound(value):
        if bounds is not None and value is not None:
            bounds.add(time.perf_counter(), value)

    if solver.backend == "cp-sat":
        raise Unsupported("backend cp-sat takes the chain path formulation only; instances with "
                          "DAG jobs are solved by the DAG model on highs, scip or cbc")
    info["formulation"] = "dag"
    info["formulation_reason"] = "the instance has DAG jobs (solvers/_dag_milp.py)"
    caps = F.Capacities.of(inst)
    best_x = np.zeros(inst.n_layers, dtype=np.int8)
    best = evaluate(inst, best_x).cost
    ctx.charge(1)
    traj.record(best_x, best)
    info["incumbent_source"] = "all-device"
    lb = None
    if budget.enter("mincut"):
        rel = solve_relaxation(inst, deadline=budget.deadline)
        budget.leave("mincut")
        if rel.complete:
            lb = min(rel.energy - rel.eps, best)
            info["mincut_bound"] = lb
            add_bound(lb)
        x, moves = F.repair_and_improve(inst, rel.decision)
        ctx.charge(moves + 1)
        ev = evaluate(inst, x)
        if ev.feasible and ev.cost < best:
            best, best_x = ev.cost, x
            info["incumbent_source"] = "mincut, repaired"
            traj.record(x, best)
    info["incumbent_cost"] = best
    if lb is not None and best - lb <= 1e-9 * abs(best):
        # The relaxation's optimum is feasible and on time: nothing to search.
        info["decision_source"] = "mincut"
        return Proposal(best_x, status="optimal", bound=lb, info=info)

    def give_up(why):
        info["stopped"] = why
        info["decision_source"] = "heuristic"
        return Proposal(best_x, status="timeout", bound=lb, info=info)

    if not budget.enter("model_build"):
        return give_up("time limit reached before building the model")
    scale = best if best > 0 and math.isfinite(best) else F.objective_scale(inst)
    lm = dag_model(inst, scale=scale, caps=caps)
    # HiGHS runs through its own API (highspy): it takes the incumbent as a start and returns its
    # incumbent and bound at a time limit, which OR-Tools' interface to it does not.
    backend = "highspy" if solver.backend in ("highs", "highspy") else solver.backend
    info["backend_api"] = backend
    hint = encode_hops(lm, best_x) if backend in ("scip", "highspy") else None
    budget.leave("model_build")
    info["variables"] = int(lm.obj.size)
    info["rows"] = int(lm.A.shape[0])
    if budget.enter("lp_rounding"):
        # The LP relaxation (Glop); each node on its largest x[v, k], and the threshold
        # roundings of the LP solution, each repaired and improved.
        lp = lp_relaxation(lm, budget.deadline)
        budget.leave("lp_rounding")
        if lp is not None:
            values, duals = lp
            lp_bound = min(float(F.safe_dual_bound(lm, duals)), best)
            info["lp_bound"] = lp_bound
            if lb is None or lp_bound > lb:
                lb = lp_bound
                add_bound(lb)
            for rounded in [lm.decode(values)] + threshold_roundings(lm, values):
                if budget.left() <= 0.0:
                    break
                x, moves = F.repair_and_improve(inst, rounded)
                ctx.charge(moves + 1)
                ev = evaluate(inst, x)
                if ev.feasible and ev.cost < best:
                    best, best_x = ev.cost, x
                    info["incumbent_source"] = "lp rounding"
                    info["incumbent_cost"] = best
                    traj.record(x, best)
            if hint is not None and info["incumbent_source"] == "lp rounding":
                hint = encode_hops(lm, best_x)
    if lb is not None and best - lb <= 1e-9 * abs(best):
        info["decision_source"] = "heuristic"
        return Proposal(best_x, status="optimal", bound=lb, info=info)
    if not budget.enter("backend"):
        return give_up("time limit reached while building the model")
    t0 = time.perf_counter()
    rnd = None
    if backend == "highspy":
        rnd = Round(inst, ctx, traj, best, None)       # no restart: records and prices only
        rnd.decode = lm.decode
    out = solve_linear(backend, lm.obj, lm.A, lm.row_lo, lm.row_hi, lm.lb, lm.ub,
                       lm.integer, time_limit=min(budget.left(), 1e9), threads=solver.threads,
                       seed=ctx.seed, cutoff=solver._cutoff(best, lm.scale), hint=hint,
                       deadline=budget.deadline, info=info,
                       heuristic_effort=HEURISTIC_EFFORT if backend == "highspy" else None,
                       on_solution=rnd, restart_nodes=-1)
    budget.leave("backend")
    info["time_milp"] = time.perf_counter() - t0
    info["backend_status"] = out.message
    info["backend_wall"] = out.wall
    try:
        prop = solver._assemble(inst, ctx, out, lm.decode, lm.scale, None, best_x, best, lb,
                                info)
    except RuntimeError as e:
        # The back end failed, or called the model that holds the incumbent infeasible: its
        # numbers are not to be trusted (SPEC.md's extremes: "highspy answered Empty", SCIP's
        # MODEL_INVALID, CBC's numerical trouble). The incumbent and the certified bounds.
        info["backend_failed"] = str(e)
        return _without_backend(best_x, best, lb, info, out.status == "timeout")
    if prop.objective is not None:
        cost = evaluate(inst, prop.decision).cost
        ctx.charge(1)
        if abs(prop.objective - cost) > 1e-6 * abs(cost):
            # The back end's objective disagrees with the cost model (relatively: Solver.solve's
            # test, 1e-6 of max(1, cost), would pass an objective 1e12 times an optimum of 1e-20
            # units): the model's scaled objective cancelled (a constant of 1 against
            # coefficients of -1), so neither it nor the back end's bound is trusted; its
            # decision is, priced by the cost model.
            info["backend_objective_disagrees"] = prop.objective
            return _without_backend(prop.decision, cost, lb, info, out.status == "timeout")
    if bounds is not None:  # (only now: a back end that failed or disagreed bounds nothing)
        for when, v in out.bounds:
            bounds.add(when, min(lowered_bound(v, lm.scale, inst.n_jobs), best))
    return prop


def _without_backend(x, cost, lb, info, timed_out: bool = False) -> Proposal:
    """The answer without the back end's objective and bound: decision ``x`` (feasible, of cost
    ``cost``) and the certified bound ``lb`` (the minimum cut's, the LP's), ``optimal`` when it
    proves ``x`` to 1e-9 relative, else ``timeout`` when the back end stopped at its time limit,
    ``feasible`` when it finished."""
    bound = None if lb is None else min(lb, cost)
    info["bound_source"] = "mincut and LP (certified), not the back end"
    info.setdefault("decision_source", "milp" if "backend_objective_disagrees" in info
                    else "heuristic")
    if bound is not None and cost - bound <= 1e-9 * abs(cost):
        return Proposal(x, status="optimal", bound=bound, info=info)
    info["not_proven"] = True
    return Proposal(x, status="timeout" if timed_out else "feasible", bound=bound, info=info)
