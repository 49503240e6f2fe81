"""The exact three-tier minimum cut: optimal per job when capacities and deadlines do not bind.

Without capacities and deadlines the jobs are independent (SPEC.md sections 2 and 7), and each
job's cost, chain or DAG, is a sum of per-node compute terms and per-transfer hop terms over the
ordered tiers device < edge < cloud. :mod:`offbench._maxflow` writes that sum as a minimum s-t
cut (the construction and its proof are in its docstring: two binary variables per node, "how
far up / how far down does this output travel" indicators per shared output with several
consumers, every term a submodular pairwise term) and solves it with OR-Tools' max-flow. This
module fills the energy from the cost model (:func:`offbench.cost.tables`: compute ``comp_c``,
the one-hop entries of ``tr_c`` for the input and every node's shared output, which the DAG
model keeps in the chain's boundary slots; :func:`offbench.dag.hop_costs` for the edges' own
messages; all ``weight * (w.time * t + w.energy * e)``), so no formula of SPEC.md is written
here, and re-prices every answer with :func:`offbench.cost.evaluate`.

Groups (SPEC.md section 7): the job's input, from the device to the entry nodes; each node's
shared output (``out_bits``, latency paid also at 0 bits), to its successors and, for an exit
node, to the device; each edge's own message, to its head alone. A chain job is the DAG with
edges ``(j, j+1)``: on chains the minimum cut and ``dp``'s Viterbi solve the same problem.

Exactness. The max-flow takes integer capacities, so each job's costs are scaled and rounded
(see :mod:`offbench._maxflow`): the decision is optimal within ``eps = sum_j eps_j`` (about
``2.2e-16`` times the sum of a job's coefficients, per job; where that exceeds the tolerance,
as at SPEC.md's extremes, the job is cut again without the terms above its first cut's cost).
Its objective is the labelling's energy summed from its own terms (never the cut's value plus
constants, which cancel at such magnitudes). The solver claims ``optimal`` only when
``eps <= 1e-9 * cost`` (:data:`offbench._maxflow.TOLERANCE`), and otherwise answers
``feasible`` with the lower bound ``energy - eps``.

Capacities and deadlines. As in ``dp``: the jobs are solved without them (a relaxation whose
optimum is a lower bound). If that optimum fits the capacities and no job with a tardiness
weight is late, it is optimal for the real problem too (it is feasible, its tardiness is 0, and
no decision costs less than the relaxation's optimum); otherwise ``mincut`` refuses (status
``error``) rather than answer wrongly: use ``milp`` or ``exhaustive``.

Ties go toward the lower tier (the cut with the smallest sink side). The jobs are solved in
batches of about :data:`BATCH_NODES` graph nodes, one max-flow call each; the clock is checked
between batches, and jobs not reached by a time limit stay on their devices (status
``timeout``).
"""

from __future__ import annotations

import math
import time
from typing import NamedTuple

import numpy as np

from offbench._maxflow import THREE_TIERS, TOLERANCE, CutProblem, solve_cuts
from offbench._numba import jit
from offbench.cost import evaluate, tables, tier_can_bind
from offbench.solver import Proposal, Solver, Unsupported

#: Nodes of the instance per max-flow call (the clock is checked between calls).
BATCH_NODES = 1 << 17


# ------------------------------------------------------------------------------ the energy
@jit
def _fill(off, is_dag, eoff, esrc, edst, ehas, comp, trc, msgc, j0, j1,
          node_off, unary, grp_off, grp_src, grp_dev, grp_cost, dst_off, dst, indeg):
    """Write jobs ``j0 .. j1-1`` as a :class:`CutProblem` (arrays sized by the caller).
    Returns (groups, destinations) written."""
    ng = 0
    nd = 0
    node_off[0] = 0
    grp_off[0] = 0
    dst_off[0] = 0
    for jj in range(j1 - j0):
        i = j0 + jj
        lo = off[i]
        L = off[i + 1] - lo
        n0 = node_off[jj]
        node_off[jj + 1] = n0 + L
        for v in range(L):
            for k in range(3):
                unary[n0 + v, k] = comp[lo + v, k]
        dag = is_dag[i]
        e0 = eoff[i] if dag else 0
        e1 = eoff[i + 1] if dag else 0
        for v in range(L):
            indeg[v] = 0
        for e in range(e0, e1):
            indeg[edst[e]] += 1
        # the input: device -> entry nodes
        b = lo + i
        grp_src[ng] = -1
        grp_dev[ng] = False
        grp_cost[ng, 0] = trc[b, 1]
        grp_cost[ng, 1] = trc[b, 3]
        grp_cost[ng, 2] = trc[b, 5]
        grp_cost[ng, 3] = trc[b, 7]
        if dag:
            for v in range(L):
                if indeg[v] == 0:
                    dst[nd] = v
                    nd += 1
        else:
            dst[nd] = 0
            nd += 1
        ng += 1
        dst_off[ng] = nd
        # each node's shared output: to its successors, and to the device from an exit node
        p = e0
        for v in range(L):
            b = lo + v + i + 1
            grp_src[ng] = v
            grp_cost[ng, 0] = trc[b, 1]
            grp_cost[ng, 1] = trc[b, 3]
            grp_cost[ng, 2] = trc[b, 5]
            grp_cost[ng, 3] = trc[b, 7]
            if dag:
                if p < e1 and esrc[p] < v:
                    raise ValueError("edges not sorted by source")
                start = nd
                while p < e1 and esrc[p] == v:
                    dst[nd] = edst[p]
                    nd += 1
                    p += 1
                grp_dev[ng] = nd == start
            elif v + 1 < L:
                dst[nd] = v + 1
                nd += 1
                grp_dev[ng] = False
            else:
                grp_dev[ng] = True
            ng += 1
            dst_off[ng] = nd
        if p != e1:
            raise ValueError("edges not sorted by source")
        # each edge's own message: to its head alone
        for e in range(e0, e1):
            if ehas[e]:
                grp_src[ng] = esrc[e]
                grp_dev[ng] = False
                grp_cost[ng, 0] = msgc[e, 1]
                grp_cost[ng, 1] = msgc[e, 3]
                grp_cost[ng, 2] = msgc[e, 5]
                grp_cost[ng, 3] = msgc[e, 7]
                dst[nd] = edst[e]
                nd += 1
                ng += 1
                dst_off[ng] = nd
        grp_off[jj + 1] = ng
    return ng, nd


def _message_costs(inst, eoff, ehas, j0, j1) -> np.ndarray:
    """(n_edges, 9): an edge's own message from tier a to tier c at ``[e, 3 * a + c]`` for the
    one-hop moves the energy reads (up 0->1, down 1->0, backhaul 1->2 and 2->1), from
    :func:`offbench.dag.hop_costs`; zero for edges without a message or outside jobs
    ``j0 .. j1-1``."""
    from offbench.dag import hop_costs

    out = np.zeros((ehas.size, 9))
    for i in range(j0, j1):
        e0, e1 = int(eoff[i]), int(eoff[i + 1])
        if e1 > e0 and ehas[e0:e1].any():
            h = hop_costs(inst, i, inst.edge_bits[e0:e1])        # (m, 3): up, down, backhaul
            h = np.where(ehas[e0:e1, None], h, 0.0)
            out[e0:e1, 1] = h[:, 0]
            out[e0:e1, 3] = h[:, 1]
            out[e0:e1, 5] = h[:, 2]
            out[e0:e1, 7] = h[:, 2]
    return out


def instance_problem(inst, j0: int = 0, j1: int | None = None) -> CutProblem:
    """Jobs ``j0 .. j1-1`` of ``inst`` as the energy of :mod:`offbench._maxflow`, with every
    coefficient read from the cost model's tables (see the module docstring)."""
    t = tables(inst)
    j1 = inst.n_jobs if j1 is None else j1
    off = np.asarray(inst.layer_offsets, dtype=np.int64)
    if inst.is_dag:
        is_dag = np.asarray(inst.job_is_dag, dtype=np.bool_)
        eoff = np.asarray(inst.edge_offsets, dtype=np.int64)
        esrc = np.asarray(inst.edge_src, dtype=np.int64)
        edst = np.asarray(inst.edge_dst, dtype=np.int64)
        ehas = np.asarray(inst.edge_has_bits, dtype=np.bool_)
        msgc = _message_costs(inst, eoff, ehas, j0, j1)
    else:
        is_dag = np.zeros(inst.n_jobs, dtype=np.bool_)
        eoff = np.zeros(inst.n_jobs + 1, dtype=np.int64)
        esrc = edst = np.zeros(0, dtype=np.int64)
        ehas = np.zeros(0, dtype=np.bool_)
        msgc = np.zeros((0, 9))
    N = int(off[j1] - off[j0])
    E = int(eoff[j1] - eoff[j0]) if inst.is_dag else 0
    J = j1 - j0
    G = J + N + E
    D = 2 * N + 2 * E + J
    Lmax = int(np.max(np.diff(off[j0:j1 + 1]), initial=1))
    node_off = np.empty(J + 1, dtype=np.int64)
    unary = np.empty((N, 3))
    grp_off = np.empty(J + 1, dtype=np.int64)
    grp_src = np.empty(G, dtype=np.int64)
    grp_dev = np.empty(G, dtype=np.bool_)
    grp_cost = np.empty((G, 4))
    dst_off = np.empty(G + 1, dtype=np.int64)
    dst = np.empty(D, dtype=np.int64)
    ng, nd = _fill(off, is_dag, eoff, esrc, edst, ehas, np.asarray(t.comp_c),
                   np.asarray(t.tr_c), msgc, j0, j1, node_off, unary, grp_off, grp_src, grp_dev,
                   grp_cost, dst_off, dst, np.empty(Lmax, dtype=np.int64))
    return CutProblem(node_off, unary, grp_off, grp_src[:ng], grp_dev[:ng], grp_cost[:ng],
                      dst_off[:ng + 1], dst[:nd])


class Relaxation(NamedTuple):
    """The capacity- and deadline-free optimum over the tiers a mode allows
    (see :func:`solve_relaxation`)."""

    decision: np.ndarray     # int8 (n_layers,)
    energy: float            # its linear cost (no tardiness), summed from the cut's terms
    job_energy: np.ndarray   # (n_jobs,) the same per job (NaN for jobs not reached)
    eps: float               # the decision is within eps (absolute) of the relaxation's optimum
    complete: bool           # False when the time limit stopped it
    jobs_solved: int
    arcs: int
    nodes: int


def solve_relaxation(inst, *, mode: int = THREE_TIERS, deadline: float | None = None) -> Relaxation:
    """Solve every job alone by minimum cut, ignoring capacities and deadlines.

    Parameters
    ----------
    inst : Instance
    mode : int
        Which tiers the nodes may take (:data:`offbench._maxflow.THREE_TIERS`, ``DEVICE_EDGE``,
        ``DEVICE_CLOUD``).
    deadline : float, optional
        A ``time.perf_counter()`` value after which no further batch is started; the jobs left
        stay on their devices and ``complete`` is False.

    Returns
    -------
    Relaxation
        With ``complete``, ``energy - eps`` is a proven lower bound on the instance's optimum
        over the allowed tiers (capacities and tardiness only add to the cost or remove
        decisions).
    """
    x = np.zeros(inst.n_layers, dtype=np.int8)
    off = inst.layer_offsets
    nj = inst.n_jobs
    energy = []
    eps = []
    arcs = nodes = 0
    j = 0
    while j < nj:
        if deadline is not None and j > 0 and time.perf_counter() >= deadline:
            break
        j1 = min(nj, int(np.searchsorted(off, off[j] + BATCH_NODES, side="right")) - 1)
        j1 = max(j1, j + 1)
        sol = solve_cuts(instance_problem(inst, j, j1), mode)
        x[off[j]:off[j1]] = sol.x
        energy.append(sol.energy)
        eps.append(sol.eps)
        arcs += sol.arcs
        nodes += sol.nodes
        j = j1
    complete = j >= nj
    job_energy = np.full(nj, math.nan)
    if energy:
        job_energy[:j] = np.concatenate(energy)
    en = math.fsum(job_energy[:j].tolist())
    ep = float(np.sum(np.concatenate(eps))) if eps else 0.0
    return Relaxation(x, en if complete else math.nan, job_energy, ep, complete, j, arcs, nodes)


def check_uncoupled(inst, x: np.ndarray, ev, solver_id: str) -> str | None:
    """Why the relaxation's decision ``x`` (evaluated: ``ev``) is not optimal for ``inst``
    because capacities or deadlines bind; None when they do not."""
    t = tables(inst)
    why = []
    if not ev.feasible:
        load = ev.load
        for nm, k in (("edge", 1), ("cloud", 2)):
            cap = inst.edge_capacity if k == 1 else inst.cloud_capacity
            if tier_can_bind(t, k) and load.get(nm, 0.0) > cap * (1 + 1e-9):
                why.append(f"{nm} load {load.get(nm, 0.0):.6g} > capacity {cap:.6g}")
        why = why or ["capacities are exceeded"]
    late = [i for i, jc in enumerate(ev.jobs) if t.job_tw[i] > 0 and jc.tardiness > 0]
    if late:
        why.append(f"{len(late)} job(s) late (job {late[0]} first)")
    if not why:
        return None
    return (f"the capacity- and deadline-free optimum does not hold here ({'; '.join(why)}); "
            f"{solver_id} is exact only when capacities and deadlines do not bind; use milp or "
            "exhaustive")


# ------------------------------------------------------------------------------ the solver
class MinCut(Solver):
    """Exact per-job minimum cut over three tiers (chains and DAGs); refuses coupled instances.

    Each job's cost is written as a minimum s-t cut (:mod:`offbench._maxflow`, where the
    construction is proved) and solved with OR-Tools' max-flow; every coefficient comes from the
    cost model's tables. Optimal within a stated tolerance (``info["tolerance"]``, at most 1e-9
    relative to the cost when ``optimal`` is claimed). On an instance whose capacities or
    deadlines bind (the capacity-free optimum does not fit, or a job is late) it returns status
    ``error`` with the reason, never a decision it cannot prove optimal.
    """

    name = "mincut"
    version = 1
    guarantee = "exact"
    params = ()
    requires = ("ortools",)
    handles_dag = True
    reference_role = "exact"
    reference_rank = 15

    @classmethod
    def exact_for(cls, inst):
        """Asked on instances with DAG jobs (it proves an optimum, or refuses when capacities or
        deadlines bind). On chains ``dp``, asked before it, proves the same optima, and more
        (deadlines that bind), so asking the minimum cut there would only repeat its work."""
        return bool(inst.is_dag)

    @classmethod
    def lower_bound(cls, inst, deadline=None):
        """The capacity- and deadline-free optimum, less its tolerance, when it finishes."""
        relax = solve_relaxation(inst, deadline=deadline)
        return max(0.0, relax.energy - relax.eps) if relax.complete else None

    def _solve(self, inst, ctx):
        left = ctx.time_left()
        deadline = None if math.isinf(left) else time.perf_counter() + left
        res = solve_relaxation(inst, deadline=deadline)
        info = {"jobs_solved": res.jobs_solved, "arcs": res.arcs, "graph_nodes": res.nodes,
                "tolerance": res.eps}
        if not res.complete:
            info["note"] = (f"time limit: jobs after the first {res.jobs_solved} stay on their "
                            "devices")
            return Proposal(res.decision, status="timeout", info=info)
        return finish(inst, res, self.id, info)


def finish(inst, res: Relaxation, solver_id: str, info: dict) -> Proposal:
    """The proposal for a complete relaxation ``res``: optimal within the tolerance, feasible
    with a lower bound beyond it, refused when capacities or deadlines bind."""
    ev = evaluate(inst, res.decision)
    why = check_uncoupled(inst, res.decision, ev, solver_id)
    if why is not None:
        raise Unsupported(why)
    if res.eps <= TOLERANCE * ev.cost or ev.cost == 0.0:   # costs are >= 0: 0 is optimal
        return Proposal(res.decision, status="optimal", objective=res.energy, info=info)
    info["note"] = (f"the rounding tolerance {res.eps:.3g} exceeds {TOLERANCE:g} of the cost "
                    f"{ev.cost:.6g}: not claimed optimal")
    return Proposal(res.decision, status="feasible", objective=res.energy,
                    bound=max(0.0, res.energy - res.eps), info=info)
