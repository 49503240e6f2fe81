"""DADS: the best two-tier minimum cut of each job, device/edge or device/cloud.

Hu et al., "Dynamic Adaptive DNN Surgery for Inference Acceleration on the Edge" (IEEE INFOCOM
2019), split a DNN given as a DAG between the mobile device and one server by a minimum s-t cut
(exact for the two-tier problem; their light-load case). This is that baseline under offbench's
cost (SPEC.md sections 2 and 7): for every job, two minimum cuts are solved, one with the nodes
restricted to {device, edge} and one to {device, cloud}, with the construction of
:mod:`offbench._maxflow` (the three-tier graph with ``y_{v,2} = 0``, resp. ``y_{v,2} = y_{v,1}``;
its proof covers both) filled from the cost model's tables by
:func:`offbench_solvers.mincut.instance_problem`. Each job then takes the cheaper of its two
cuts, priced by the cost model (:func:`offbench.cost.evaluate`, tardiness included; ties go to
the edge). What three tiers buy over two is the gap between this and ``mincut``.

Each two-tier cut is optimal among the job's two-tier placements when the job has no deadline
(up to the rounding tolerance of :mod:`offbench._maxflow`), but DADS claims nothing: it is a
heuristic for the three-tier problem.

Capacities. DADS has none in its model. Here, on an instance with capacities, the cheapest of
three decisions that fits is kept: the combined one, every job's device/edge cut, every job's
device/cloud cut (ties in that order); when none fits, every node stays on its device
(``info["capacity_fallback"]`` says which was taken).
"""

from __future__ import annotations

import math
import time

import numpy as np

from offbench._maxflow import DEVICE_CLOUD, DEVICE_EDGE
from offbench.cost import evaluate
from offbench.solver import Proposal, Solver

from .mincut import solve_relaxation


class DADS(Solver):
    """DADS (Hu et al., INFOCOM 2019): per job the cheaper of two two-tier minimum cuts.

    The cuts are device/edge and device/cloud, on chains and DAGs. Both two-tier cuts are exact minimum cuts of the job's capacity- and deadline-free cost
    over two tiers (:mod:`offbench._maxflow`); each job takes the one the cost model prices
    lower. With capacities the combined decision is kept when it fits, else the cheapest of the
    all-device/edge and all-device/cloud decisions that fits, else all-device.
    """

    name = "dads"
    version = 1
    guarantee = "heuristic"
    params = ()
    requires = ("ortools",)
    handles_dag = True

    def _solve(self, inst, ctx):
        left = ctx.time_left()
        deadline = None if math.isinf(left) else time.perf_counter() + left
        edge = solve_relaxation(inst, mode=DEVICE_EDGE, deadline=deadline)
        cloud = solve_relaxation(inst, mode=DEVICE_CLOUD, deadline=deadline)
        complete = edge.complete and cloud.complete
        ev_e = evaluate(inst, edge.decision)
        ev_c = evaluate(inst, cloud.decision)
        ctx.charge(2)
        off = inst.layer_offsets
        x = edge.decision.copy()
        to_cloud = 0
        for i in range(inst.n_jobs):
            if ev_c.jobs[i].cost < ev_e.jobs[i].cost:
                x[off[i]:off[i + 1]] = cloud.decision[off[i]:off[i + 1]]
                to_cloud += 1
        info = {"jobs_device_cloud": to_cloud, "jobs_device_edge": inst.n_jobs - to_cloud,
                "arcs": edge.arcs + cloud.arcs}
        if not complete:
            info["note"] = ("time limit: jobs after the first "
                            f"{min(edge.jobs_solved, cloud.jobs_solved)} were not all cut")
        if inst.has_capacities:
            ev = evaluate(inst, x)
            ctx.charge(1)
            cands = [(ev.cost, 0, "none", x, ev.feasible),
                     (ev_e.cost, 1, "device/edge cuts", edge.decision, ev_e.feasible),
                     (ev_c.cost, 2, "device/cloud cuts", cloud.decision, ev_c.feasible)]
            fit = sorted((c for c in cands if c[4]), key=lambda c: (c[0], c[1]))
            if fit:
                x = fit[0][3]
                info["capacity_fallback"] = fit[0][2]
            else:
                x = np.zeros(inst.n_layers, dtype=np.int8)
                info["capacity_fallback"] = "all-device"
        return Proposal(x, status="feasible" if complete else "timeout", info=info)
