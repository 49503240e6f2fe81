"""The per-job cost of SPEC.md section 7 as a minimum s-t cut, solved with OR-Tools' max-flow.

Without capacities and deadlines the jobs of an instance are independent, and one job's cost is
a sum of *per-node* terms and *per-transfer* terms over three ordered tiers ``0 < 1 < 2``
(device, edge, cloud). This module writes that sum as an *abstract energy*
(:class:`CutProblem`), builds a graph whose minimum cuts are its minimisers, and solves many jobs
in one max-flow call (:func:`solve_cuts`). It knows nothing of instances: the solvers
(``mincut``, ``dads``) fill the energy from the cost model (:func:`offbench.cost.tables` and
:mod:`offbench.dag`'s cost helpers, where SPEC.md's formulas are applied) and re-price the answer
with :func:`offbench.cost.evaluate`.

The energy
----------
A job has nodes ``v = 0..L-1`` with a tier ``x_v`` each, and

    E(x) = sum_v  unary[v, x_v]  +  sum_g  transfer_g(x)

over *transfer groups* ``g``. A group is data that starts on the tier ``a`` of its source
(a node, or the device itself for the job's input) and must reach a set of destinations
(nodes, and optionally the device: an exit node's result). On the line of tiers it travels once
over every hop of the union of the paths from ``a`` to the destination tiers, i.e. over the
interval ``[D, U]`` with ``D = min(a, dests)`` and ``U = max(a, dests)``. Hop 1 joins tiers 0 and
1 (the device link: *up* from 0 to 1, *down* from 1 to 0, with different costs), hop 2 joins
tiers 1 and 2 (the backhaul; an up and a down cost are kept, equal in offbench). Hops above ``a``
are crossed upwards, hops below it downwards. With the group's four costs ``c_up``, ``c_down``,
``c_bup``, ``c_bdown`` (all ``>= 0``), and ``M = max(dests)``, ``m = min(dests)`` (the device counting
as tier 0):

    transfer_g = c_up [a = 0][U >= 1] + c_bup [a <= 1][U >= 2]
               + c_down [a >= 1][D = 0] + c_bdown [a = 2][D <= 1]
               = c_up [a = 0][M >= 1] + c_bup [a <= 1][M >= 2]
               + c_down [a >= 1][m = 0] + c_bdown [a = 2][m <= 1]                (1)

(the second form because ``U = max(a, M)`` is read only where ``a`` lies below the level asked,
and ``D = min(a, m)`` only where ``a`` lies above it). A group without destinations costs nothing.
A node's shared output (consumers: its successors, plus the device when it is an exit node), the
job's input (source: the device; consumers: the entry nodes) and an edge's own message (one
consumer) are all groups.

The graph
---------
Binary variables, ``1`` meaning "on the sink side T" and ``0`` "on the source side S":

* per node ``y_{v,1} = [x_v >= 1]`` and ``y_{v,2} = [x_v >= 2]``, with ``y_{v,2} <= y_{v,1}``;
* per group, indicators ``u_k`` standing for ``[M >= k]`` and ``d_k`` for ``[m >= k]``
  (``k = 1, 2``). Where the answer is fixed they are not variables: with one node destination
  ``b`` and no device, ``u_k = d_k = y_{b,k}``; with the device among the destinations ``d_k = 0``;
  without node destinations ``u_k = 0``; a device source has ``a_k = 0`` and no down terms.
  Otherwise (two or more node destinations) ``u_k`` (and ``d_k`` unless fixed) are new variables
  with ``u_k >= y_{b,k}`` and ``d_k <= y_{b,k}`` for every node destination ``b``.

Every term is ``c [q = 0][p = 1]`` with ``c >= 0`` (possibly ``+inf``), which is an arc ``q -> p``
of capacity ``c`` (cut exactly when ``q`` is in S and ``p`` in T); a constant ``q = 0`` makes it
the arc ``s -> p``. Such a term is submodular: ``f(0,0) + f(1,1) = 0 <= c = f(0,1) + f(1,0)``.
The terms are:

* compute: ``unary[v, x_v] = unary[v,0] + (unary[v,1] - unary[v,0]) y_{v,1} + (unary[v,2] -
  unary[v,1]) y_{v,2}``. A coefficient ``c > 0`` of ``[y = 1]`` is the arc ``s -> y``; ``c < 0`` is
  ``c + |c| [y = 0]``: a constant plus the arc ``y -> t`` (a unary term of either sign is modular);
* order: ``inf [y_{v,1} = 0][y_{v,2} = 1]``;
* transfer, from (1) with ``a_k = y_{src,k}``: ``c_up [a_1 = 0][u_1 = 1]``, ``c_bup [a_2 = 0][u_2 = 1]``,
  ``c_down [d_1 = 0][a_1 = 1]``, ``c_bdown [d_2 = 0][a_2 = 1]`` (``[a <= 1] = [a_2 = 0]``,
  ``[m = 0] = [d_1 = 0]``, ...);
* indicators: ``inf [u_k = 0][y_{b,k} = 1]`` and ``inf [y_{b,k} = 0][d_k = 1]``.

**Claim.** The minimum cut of the graph, plus the constants, is ``min_x E(x)``, and the node
variables on a minimum cut, read as ``x_v = y_{v,1} + y_{v,2}``, are a minimiser.

*Proof.* (i) Every labelling ``x`` has a cut of cost exactly ``E(x)``: set ``y`` from ``x`` and every
indicator to its true value ``u_k = [M >= k]``, ``d_k = [m >= k]`` (a fixed indicator has that
value already). No infinite term is cut: ``y_{v,2} <= y_{v,1}``, and ``M >= x_b >= m`` for every
destination ``b``. Each finite term equals its term of (1). (ii) Every finite cut costs at least
``E(x)`` of the labelling ``x`` it induces: it cuts no infinite term, so ``y_{v,2} <= y_{v,1}``
(``x_v`` is a tier), ``u_k >= [M >= k]`` and ``d_k <= [m >= k]``. An indicator ``u_k`` appears only
in ``c [a_k = 0][u_k = 1]``, non-decreasing in ``u_k``, and ``d_k`` only in ``c [d_k = 0][a_k = 1]``,
non-increasing in ``d_k``; moving each to its true value keeps the cut finite and does not raise
its cost, and then the cost is ``E(x)`` by (i). (iii) The all-device cut is finite, so the
minimum cut is finite; by (i) and (ii) it equals ``min_x E(x)`` and its labelling attains it. ∎

The order ``u_2 <= u_1`` (``d_2 <= d_1``) is implied at every minimum and need not be enforced:
each indicator is pushed to its bound on its own. Two-tier problems (DADS) use the same graph
with ``y_{v,2} = 0`` for all nodes and indicators (tiers {0, 1}), or ``y_{v,2} = y_{v,1}`` (tiers
{0, 2}): substituting a constant or identifying two variables keeps every term of the form
``c [q = 0][p = 1]``, and the proof above is unchanged on the restricted labellings.

Integer capacities and the tolerance
------------------------------------
OR-Tools' max-flow takes 64-bit integer capacities, so each job's finite capacities are scaled by
``S_j = 2^B / sum_j`` (``sum_j``: the sum of that job's finite capacities; ``2^B``: the headroom
shared by the jobs of one call, ``2^61 / n_jobs``) and rounded; an infinite term becomes one more
than the sum of the job's rounded finite capacities, more than any finite cut can cost. Rounding
moves the cut cost of any labelling by at most ``m_j / 2 + 2^-53 S_j sum_j`` units (``m_j``: the
job's finite arcs; the second part is the floating-point product ``c S_j`` before rounding), so
the labelling found is optimal for the real-valued energy within ``eps_j = m_j / S_j + 2^-52
sum_j`` (absolute; about ``2.2e-16 sum_j`` plus ``m_j J 2^-61 sum_j`` for J jobs in a call).
:func:`solve_cuts` returns ``eps_j``; the solvers claim optimality only when the total is at most
:data:`TOLERANCE` relative to the cost they re-price with the cost model, and otherwise report
the decision as feasible with the lower bound ``cost - sum_j eps_j``.

Dropping what costs more than a known cut
-----------------------------------------
At SPEC.md's extremes one job's terms can span 60 decades: its capacities' rounding
(``2^-52 sum_j``) then exceeds its minimum, the cut may miss it, and the cut's value plus the
constants (``c0 + (c1 - c0)``) can cancel to nothing. So the energy of the labelling found is
summed from its own terms (:func:`_energies`; all ``>= 0`` in the solvers' energies, within
``n 2^-53`` of their sum), and a job whose ``eps_j`` exceeds :data:`TOLERANCE` of that energy
``E_j`` is cut again without what no minimiser pays: with every term ``>= 0``, a labelling
that puts node ``v`` on tier ``k`` costs at least ``unary[v, k]``, and one that pays a
transfer term at least its cost, so if that exceeds ``U = E_j (1 + 1e-6)`` (above the
labelling's exact energy, over the float sum's error) no minimiser does it. Such a tier gets
an infinite term (``inf [y_{v,1} = 0]`` forbids tier 0, ``inf [y_{v,2} = 0][y_{v,1} = 1]``
tier 1, ``inf [y_{v,2} = 1]`` tier 2; a tier whose compute term now never counts is written
as the node's least allowed one, so it adds nothing to the capacities), such a transfer term
becomes infinite, and the rounding tolerance of the new cut is that of the terms left. The
labellings left include every minimiser and agree with the energy on each, so the new cut's
``eps_j`` bounds the distance to the real minimum, for its own labelling and for any of lower
energy (the better of the two is kept). A job of energy 0 is at its minimum (``eps_j = 0``).
The returned ``eps_j`` includes the float sum's ``n 2^-52 sum |terms|``.

Ties are broken toward the lower tier: the cut returned is the one with the smallest sink side
(OR-Tools' ``get_sink_side_min_cut``), so a variable is 1 only where every minimum cut needs it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._numba import jit

#: The relative tolerance within which a minimum cut is claimed optimal (SPEC.md section 7).
TOLERANCE = 1e-9

#: Modes of :func:`solve_cuts`: which tiers each node may take.
THREE_TIERS, DEVICE_EDGE, DEVICE_CLOUD = 0, 1, 2
ALLOWED = {THREE_TIERS: (0, 1, 2), DEVICE_EDGE: (0, 1), DEVICE_CLOUD: (0, 2)}

_CONST0 = -1     # a binary variable fixed at 0 (source side)
_SRC, _SNK = 0, 1
#: log2 of the integer headroom shared by the jobs of one max-flow call (source and sink
#: capacities must sum below 2^63).
_HEADROOM_BITS = 61


class CutProblem(NamedTuple):
    """Energies of several jobs in flat arrays (see the module docstring).

    ``node_off`` (J + 1): job j's nodes are ``node_off[j]:node_off[j+1]``; ``unary`` (N, 3):
    per node and tier; ``grp_off`` (J + 1): job j's groups; ``grp_src`` (G,): the source node
    (job-local, 0-based) or -1 for the device; ``grp_dev`` (G,): the device is a destination;
    ``grp_cost`` (G, 4): ``up, down, backhaul up, backhaul down`` (>= 0); ``dst_off`` (G + 1)
    and ``dst`` (job-local nodes): each group's node destinations.
    """

    node_off: np.ndarray
    unary: np.ndarray
    grp_off: np.ndarray
    grp_src: np.ndarray
    grp_dev: np.ndarray
    grp_cost: np.ndarray
    dst_off: np.ndarray
    dst: np.ndarray

    @property
    def n_jobs(self) -> int:
        return self.node_off.size - 1


def check_problem(P: CutProblem) -> None:
    """Raise ValueError if ``P`` is malformed (shapes, indices, negative or NaN costs)."""
    J = P.node_off.size - 1
    N = int(P.node_off[-1])
    G = int(P.grp_off[-1])
    if P.unary.shape != (N, 3) or not np.all(np.isfinite(P.unary)):
        raise ValueError("unary: expected finite values of shape (n_nodes, 3)")
    if P.grp_off.size != J + 1 or P.grp_src.shape != (G,) or P.grp_dev.shape != (G,):
        raise ValueError("groups: grp_off, grp_src and grp_dev disagree in size")
    if P.grp_cost.shape != (G, 4) or not np.all(P.grp_cost >= 0) or not np.all(np.isfinite(P.grp_cost)):
        raise ValueError("grp_cost: expected finite values >= 0 of shape (n_groups, 4)")
    if P.dst_off.size != G + 1 or P.dst.size != int(P.dst_off[-1]):
        raise ValueError("dst_off/dst: sizes disagree")
    job_of_grp = np.repeat(np.arange(J), np.diff(P.grp_off))
    L = np.diff(P.node_off)[job_of_grp]
    if np.any(P.grp_src < -1) or np.any(P.grp_src >= L):
        raise ValueError("grp_src: a source outside its job")
    Ld = np.repeat(L, np.diff(P.dst_off))
    if np.any(P.dst < 0) or np.any(P.dst >= Ld):
        raise ValueError("dst: a destination outside its job")


# ------------------------------------------------------------------------------ graph building
@jit
def _unary(p, c, j, tails, heads, caps, arc_job, na, const):
    """Add ``c [p = 1]`` (any sign) for job ``j``; returns the new arc count."""
    if p == _CONST0 or c == 0.0:
        return na
    if c > 0.0:
        tails[na] = _SRC
        heads[na] = p
        caps[na] = c
    else:
        const[j] += c
        tails[na] = p
        heads[na] = _SNK
        caps[na] = -c
    arc_job[na] = j
    return na + 1


@jit
def _term(q, p, c, j, tails, heads, caps, arc_job, na):
    """Add ``c [q = 0][p = 1]`` (``c >= 0``, may be inf) for job ``j``; returns the arc count."""
    if p == _CONST0 or q == p or c == 0.0:
        return na
    tails[na] = _SRC if q == _CONST0 else q
    heads[na] = p
    caps[na] = c
    arc_job[na] = j
    return na + 1


@jit
def _build(node_off, unary, grp_off, grp_src, grp_dev, grp_cost, dst_off, dst, mode, forbid,
           var, tails, heads, caps, arc_job, const):
    """Fill the arcs of every job (see the module docstring). ``forbid`` (N, 3): tiers a node may
    not take (infinite terms; see "Dropping what costs more than a known cut"). ``var`` (N, 2)
    receives the graph node of ``y_{v,1}``, ``y_{v,2}`` (``_CONST0`` when fixed). Returns (arcs,
    graph nodes)."""
    inf = np.inf
    J = node_off.size - 1
    nv = 2                                   # 0 = s, 1 = t
    na = 0
    for j in range(J):
        n0 = node_off[j]
        n1 = node_off[j + 1]
        for v in range(n0, n1):
            var[v, 0] = nv
            nv += 1
            if mode == 0:
                var[v, 1] = nv
                nv += 1
            elif mode == 1:
                var[v, 1] = _CONST0
            else:
                var[v, 1] = var[v, 0]
            c0 = unary[v, 0]
            na = _unary(var[v, 0], unary[v, 1] - c0, j, tails, heads, caps, arc_job, na, const)
            na = _unary(var[v, 1], unary[v, 2] - unary[v, 1], j, tails, heads, caps, arc_job,
                        na, const)
            const[j] += c0
            na = _term(var[v, 0], var[v, 1], inf, j, tails, heads, caps, arc_job, na)
            if forbid[v, 0]:                 # inf [y_{v,1} = 0]: the arc y_{v,1} -> t
                tails[na] = var[v, 0]
                heads[na] = _SNK
                caps[na] = inf
                arc_job[na] = j
                na += 1
            if forbid[v, 1]:                 # inf [y_{v,2} = 0][y_{v,1} = 1]
                na = _term(var[v, 1], var[v, 0], inf, j, tails, heads, caps, arc_job, na)
            if forbid[v, 2]:                 # inf [y_{v,2} = 1]
                na = _term(_CONST0, var[v, 1], inf, j, tails, heads, caps, arc_job, na)
        for g in range(grp_off[j], grp_off[j + 1]):
            s = grp_src[g]
            a1 = _CONST0 if s < 0 else var[n0 + s, 0]
            a2 = _CONST0 if s < 0 else var[n0 + s, 1]
            k0 = dst_off[g]
            k1 = dst_off[g + 1]
            nd = k1 - k0
            # u: how far up (node destinations only: the device adds nothing above tier 0)
            if nd == 0:
                u1 = _CONST0
                u2 = _CONST0
            elif nd == 1:
                u1 = var[n0 + dst[k0], 0]
                u2 = var[n0 + dst[k0], 1]
            else:
                u1 = nv
                nv += 1
                if mode == 0:
                    u2 = nv
                    nv += 1
                elif mode == 1:
                    u2 = _CONST0
                else:
                    u2 = u1
            # d: how far down (the device as a destination pins D at 0)
            if grp_dev[g] or s < 0:
                d1 = _CONST0                 # a device source never travels down: unused
                d2 = _CONST0
            elif nd == 1:
                d1 = var[n0 + dst[k0], 0]
                d2 = var[n0 + dst[k0], 1]
            else:
                d1 = nv
                nv += 1
                if mode == 0:
                    d2 = nv
                    nv += 1
                elif mode == 1:
                    d2 = _CONST0
                else:
                    d2 = d1
            if nd >= 2:
                for k in range(k0, k1):
                    b1 = var[n0 + dst[k], 0]
                    b2 = var[n0 + dst[k], 1]
                    na = _term(u1, b1, inf, j, tails, heads, caps, arc_job, na)
                    na = _term(u2, b2, inf, j, tails, heads, caps, arc_job, na)
                    if not (grp_dev[g] or s < 0):
                        na = _term(b1, d1, inf, j, tails, heads, caps, arc_job, na)
                        na = _term(b2, d2, inf, j, tails, heads, caps, arc_job, na)
            na = _term(a1, u1, grp_cost[g, 0], j, tails, heads, caps, arc_job, na)
            na = _term(a2, u2, grp_cost[g, 2], j, tails, heads, caps, arc_job, na)
            if s >= 0:
                if grp_dev[g] or nd > 0:
                    na = _term(d1, a1, grp_cost[g, 1], j, tails, heads, caps, arc_job, na)
                    na = _term(d2, a2, grp_cost[g, 3], j, tails, heads, caps, arc_job, na)
    return na, nv


def _arc_bound(P: CutProblem) -> int:
    N = int(P.node_off[-1])
    G = int(P.grp_off[-1])
    return 6 * N + 4 * G + 4 * int(P.dst.size) + 1


class CutSolution(NamedTuple):
    """What :func:`solve_cuts` found: ``x`` (N,) int8 tiers; ``energy`` (J,) the energy of ``x``
    per job (summed in floating point from its terms); ``eps`` (J,) the rounding
    tolerance per job (``x`` is within ``eps[j]`` of job j's minimum); ``arcs``, ``nodes``: the
    size of the graph."""

    x: np.ndarray
    energy: np.ndarray
    eps: np.ndarray
    arcs: int
    nodes: int


@jit
def _energies(node_off, unary, grp_off, grp_src, grp_dev, grp_cost, dst_off, dst, x, out, mag):
    """Write each job's energy ``E(x)`` (the module docstring's sum and its form (1)) into
    ``out``, summed term by term, and the sum of its terms' magnitudes into ``mag``: the sum is
    within ``n 2^-53 mag`` of its value (n terms), where the cut's value plus the constants can
    cancel to nothing. Returns the number of terms of the job with the most."""
    most = 0
    for j in range(node_off.size - 1):
        n0 = node_off[j]
        e = 0.0
        a_ = 0.0
        n = 0
        for v in range(n0, node_off[j + 1]):
            e += unary[v, x[v]]
            a_ += abs(unary[v, x[v]])
            n += 1
        for g in range(grp_off[j], grp_off[j + 1]):
            k0 = dst_off[g]
            k1 = dst_off[g + 1]
            if k1 == k0 and not grp_dev[g]:
                continue
            a = 0 if grp_src[g] < 0 else x[n0 + grp_src[g]]
            hi = 0
            lo = 0 if grp_dev[g] else 2
            for k in range(k0, k1):
                t = x[n0 + dst[k]]
                hi = max(hi, t)
                lo = min(lo, t)
            t = 0.0
            if a == 0 and hi >= 1:
                t += grp_cost[g, 0]
            if a <= 1 and hi >= 2:
                t += grp_cost[g, 2]
            if a >= 1 and lo == 0:
                t += grp_cost[g, 1]
            if a == 2 and lo <= 1:
                t += grp_cost[g, 3]
            e += t
            a_ += t
            n += 4
        out[j] = e
        mag[j] = a_
        most = max(most, n)
    return most


def _cut(P: CutProblem, unary, grp_cost, forbid, mode):
    """One max-flow call over every job of ``P`` with these coefficients: (x, eps, arcs, graph
    nodes), ``eps`` the rounding tolerance per job (see the module docstring)."""
    from ortools.graph.python import max_flow

    J = P.n_jobs
    N = int(P.node_off[-1])
    m = _arc_bound(P)
    tails = np.empty(m, dtype=np.int64)
    heads = np.empty(m, dtype=np.int64)
    caps = np.empty(m)
    arc_job = np.empty(m, dtype=np.int64)
    const = np.zeros(J)
    var = np.empty((N, 2), dtype=np.int64)
    na, nv = _build(P.node_off, unary, P.grp_off, P.grp_src, P.grp_dev, grp_cost,
                    P.dst_off, P.dst, int(mode), forbid, var, tails, heads, caps, arc_job, const)
    tails, heads, caps, arc_job = tails[:na], heads[:na], caps[:na], arc_job[:na]
    finite = np.isfinite(caps)
    total = np.bincount(arc_job[finite], weights=caps[finite], minlength=J)
    n_finite = np.bincount(arc_job[finite], minlength=J)
    room = float(2 ** _HEADROOM_BITS) / max(J, 1)
    scale = np.where(total > 0, room / np.where(total > 0, total, 1.0), 1.0)
    icap = np.zeros(na, dtype=np.int64)
    icap[finite] = np.rint(caps[finite] * scale[arc_job[finite]]).astype(np.int64)
    # Each job's rounded finite capacities summed exactly (int64; the arcs come job by job):
    # an infinite term costs one more than any finite cut of its job.
    csum = np.concatenate(([0], np.cumsum(icap)))
    jobs = np.arange(J)
    itotal = (csum[np.searchsorted(arc_job, jobs, side="right")]
              - csum[np.searchsorted(arc_job, jobs, side="left")])
    icap[~finite] = itotal[arc_job[~finite]] + 1

    smf = max_flow.SimpleMaxFlow()
    side = np.zeros(max(nv, 2), dtype=bool)
    if na:
        smf.add_arcs_with_capacity(tails, heads, icap)
        status = smf.solve(_SRC, _SNK)
        if status != smf.OPTIMAL:
            raise RuntimeError(f"OR-Tools max-flow returned status {status} on a graph of {nv} "
                               f"nodes and {na} arcs")
        sink_side = np.asarray(smf.get_sink_side_min_cut(), dtype=np.int64)
        side[sink_side] = True
    side[_SRC] = False
    side[_SNK] = True
    v1 = var[:, 0]
    v2 = var[:, 1]
    y1 = side[v1]
    y2 = np.where(v2 == _CONST0, False, side[np.where(v2 == _CONST0, 0, v2)])
    x = (y1.astype(np.int8) + y2.astype(np.int8)).astype(np.int8)
    cut = ~side[tails] & side[heads]
    if np.any(cut & ~finite):
        raise RuntimeError("the minimum cut crosses an infinite arc: the graph is malformed")
    eps = n_finite / scale + 2.0 ** -52 * total
    return x, eps, int(na), int(nv)


def _drop_above(P: CutProblem, unary, grp_cost, forbid, ub, mode):
    """Forbid, in the jobs with a finite ``ub[j]``, every tier whose compute term exceeds
    ``ub[j]`` and make infinite every transfer term above it (see "Dropping what costs more than
    a known cut"); a forbidden or unused tier's compute term becomes the node's least allowed
    one, so it adds nothing to the capacities. Returns (unary, grp_cost, forbid, changed (J,))."""
    J = P.n_jobs
    jn = np.repeat(np.arange(J), np.diff(P.node_off))
    jg = np.repeat(np.arange(J), np.diff(P.grp_off))
    allowed = np.zeros(3, dtype=bool)
    allowed[list(ALLOWED[mode])] = True
    new = (P.unary > ub[jn, None]) & allowed & ~forbid
    f = forbid | new
    keep = (f | ~allowed).all(axis=1)       # never every tier (a known cut fits: not reached)
    new[keep] = False
    f[keep] = forbid[keep]
    least = np.where(f | ~allowed, np.inf, P.unary).min(axis=1)
    un = np.where(f | ~allowed, least[:, None], P.unary)
    big = (grp_cost > ub[jg, None]) & np.isfinite(grp_cost)
    gc = np.where(big, np.inf, grp_cost)
    changed = (np.bincount(jn, weights=new.any(axis=1), minlength=J)
               + np.bincount(jg, weights=big.any(axis=1), minlength=J)) > 0
    return un, gc, f, changed


def solve_cuts(P: CutProblem, mode: int = THREE_TIERS, passes: int = 4) -> CutSolution:
    """Minimise every job's energy of ``P`` over the tiers that ``mode`` allows.

    All jobs share one max-flow call (their graphs only meet at s and t); each job has its own
    scale (see the module docstring). A job whose tolerance exceeds :data:`TOLERANCE` of its
    energy is cut again, up to ``passes`` times, without the terms that cost more than its
    best cut so far (see "Dropping what costs more than a known cut").

    Parameters
    ----------
    P : CutProblem
    mode : int
        :data:`THREE_TIERS`, :data:`DEVICE_EDGE` or :data:`DEVICE_CLOUD`.
    passes : int
        At most this many further cuts of the jobs beyond the tolerance.

    Returns
    -------
    CutSolution
    """
    if mode not in ALLOWED:
        raise ValueError(f"mode must be one of {sorted(ALLOWED)}, got {mode!r}")
    J = P.n_jobs
    N = int(P.node_off[-1])
    forbid = np.zeros((N, 3), dtype=bool)
    x, eps, arcs, nodes = _cut(P, P.unary, P.grp_cost, forbid, mode)
    energy = np.empty(J)
    mag = np.empty(J)
    n_terms = _energies(P.node_off, P.unary, P.grp_off, P.grp_src, P.grp_dev, P.grp_cost,
                        P.dst_off, P.dst, x, energy, mag)
    unary, grp_cost = P.unary, P.grp_cost
    jn = np.repeat(np.arange(J), np.diff(P.node_off))
    # jobs whose terms are all >= 0 (the solvers' energies; the abstract energy allows unary
    # terms of either sign): energy 0 is their minimum, and a term above a labelling's energy
    # is paid by no minimiser
    nonneg = np.bincount(jn, weights=(P.unary < 0).any(axis=1), minlength=J) == 0
    eps = np.where(nonneg & (energy == 0.0), 0.0, eps)
    for _ in range(passes):
        wide = nonneg & (eps > TOLERANCE * energy)
        if not wide.any():
            break
        # ``energy`` is a sum of n >= 0 terms within n 2^-53 of its value: 1e-6 covers it
        ub = np.where(wide, energy * (1.0 + 1e-6), np.inf)
        unary, grp_cost, forbid, changed = _drop_above(P, unary, grp_cost, forbid, ub, mode)
        if not changed.any():
            break
        x2, eps2, a2, n2 = _cut(P, unary, grp_cost, forbid, mode)
        e2 = np.empty(J)
        m2 = np.empty(J)
        _energies(P.node_off, P.unary, P.grp_off, P.grp_src, P.grp_dev, P.grp_cost,
                  P.dst_off, P.dst, x2, e2, m2)
        arcs += a2
        nodes += n2
        # the new cut is within eps2 of the minimum, so is any labelling of lower energy
        eps = np.where(changed, eps2, eps)
        better = changed & (e2 < energy)
        x = np.where(better[jn], x2, x)
        energy = np.where(better, e2, energy)
        mag = np.where(better, m2, mag)
    # the float sums of the energies are within n 2^-53 mag of their value
    eps = eps + n_terms * 2.0 ** -52 * mag
    return CutSolution(x, energy, eps, arcs, nodes)
