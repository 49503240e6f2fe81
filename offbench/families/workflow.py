"""Generator of the ``workflow`` family: random workflow DAGs in the style of MRLCO's data set.

Each job is an application of about 20 tasks whose dependencies form a random layered DAG
(:func:`offbench.families._dag.daggen_dag`: daggen, as MRLCO's data set was made), each edge
carrying its own message (SPEC.md section 7's per-edge ``bits``: a task sends different data to
different successors). Per job, ``fat``, ``density`` and the communication-to-computation ratio
``ccr`` are drawn uniformly from their ranges. Messages are 5 to 50 MiB (MRLCO's daggen
``--mindata``/``--maxdata``); so are the job's input (read by its entry tasks) and each exit
task's result (returned to the device). Task sizes: each task draws a weight uniform in the same
5 to 50 MiB range (MRLCO's task "size", the data it processes), and the job's operations are
scaled so that its messages take ``ccr`` times its computation at the reference rate and speed::

    sum(message bits) / ref_rate = ccr * sum(task FLOPs) / ref_speed

(daggen's and MRLCO's CCR is such a ratio of times on a reference platform). That holds in the
nominal scenario; a published instance is one frame of it (:mod:`offbench.streams`), whose
operations move with the work factor and whose per-edge messages do not, so its ratio is the drawn
``ccr`` over that factor. See ``instances/workflow.toml`` for every number, its source and the
published ranges.

Every random number of the structure (the DAGs, their messages and operations, the devices'
speeds and powers) comes from ``rng_structure`` in an order that depends only on the structural
parameters; the networks are drawn after them, so an environment that changes the network keeps
the workflows and the devices.
"""

from __future__ import annotations

import numpy as np

from ..instance import check_size
from .param import FParam
from ._common import NETWORKS, loguniform, network_devices, server_params
from ._dag import MIB, dag_capacities, daggen_dag, dag_instance
from ._fleet import capacity_params

PARAMS = (
    FParam("n_devices", int, low=1, doc="devices (user equipment)"),
    FParam("n_jobs", int, low=1, doc="workflows, each on a device drawn uniformly"),
    FParam("tasks", "int_range", low=1, doc="tasks per workflow, uniform in this range "
                                            "(MRLCO's data set: 20)"),
    FParam("fat", "range", low=0.0, high=1.0,
           doc="daggen's fat (a level holds about tasks ** fat), uniform per workflow"),
    FParam("density", "range", low=0.0, high=1.0,
           doc="daggen's density (share of the level before a task depends on), uniform"),
    FParam("regular", float, low=0.0, high=1.0, doc="daggen's regularity of level widths"),
    FParam("ccr", "range", low=0.0, low_open=True,
           doc="communication-to-computation ratio at ref_rate and ref_speed, uniform"),
    FParam("message_mib", "range", low=0.0,
           doc="size of each edge's message, of the input and of each result, MiB (uniform)"),
    FParam("task_mib", "range", low=0.0, low_open=True,
           doc="a task's weight in its workflow's operations, MiB of data processed (uniform)"),
    FParam("ref_rate", float, low=1.0, doc="reference rate of the CCR, bit/s"),
    FParam("ref_speed", float, low=1.0, doc="reference speed of the CCR, FLOP/s"),
    FParam("device_speed", "range", low=1.0, doc="device speed range (log-uniform), FLOP/s"),
    FParam("device_power", "range", low=0.0, doc="device compute power range (uniform), W"),
    FParam("networks", "list", choices=tuple(NETWORKS),
           doc="access networks a device is drawn from (uniformly)"),
    *server_params(),
    *capacity_params(),
)

#: Parameters that fix the structure (a stream's environments may not change them).
STRUCTURAL = frozenset({"n_devices", "n_jobs", "tasks", "fat", "density", "regular", "ccr",
                        "message_mib", "task_mib", "ref_rate", "ref_speed"})


def check(p) -> str | None:
    """Cross-parameter checks; a message for the user, or None."""
    lo, hi = p["message_mib"]
    if hi <= 0.0:
        return "message_mib must allow messages of more than 0 MiB"
    return None


def _uniform(rng: np.random.Generator, bounds, size=None):
    lo, hi = bounds
    return lo + (hi - lo) * rng.random(size)


def workflow_job(rng: np.random.Generator, p, device: int) -> dict:
    """One workflow as a version-2 job dict (see the module docstring)."""
    lo, hi = p["tasks"]
    n = int(lo + rng.integers(0, hi - lo + 1))
    fat, density, ccr = (_uniform(rng, p[k]) for k in ("fat", "density", "ccr"))
    edges = daggen_dag(rng, n, fat, density, p["regular"])
    message_bits = 8.0 * MIB * _uniform(rng, p["message_mib"], len(edges))
    in_bits = 8.0 * MIB * _uniform(rng, p["message_mib"])
    result_bits = 8.0 * MIB * _uniform(rng, p["message_mib"], n)
    weights = _uniform(rng, p["task_mib"], n)
    has_succ = np.zeros(n, dtype=bool)
    has_succ[[u for u, _ in edges]] = True
    out_bits = np.where(has_succ, 0.0, result_bits)
    # The CCR: message time at ref_rate over compute time at ref_speed. A DAG of one level has
    # no message: its operations come from the results' size instead.
    comm = (message_bits.sum() if edges else out_bits.sum() + in_bits) / p["ref_rate"]
    total_flops = comm / ccr * p["ref_speed"]
    ops = total_flops * weights / weights.sum()
    return {
        "device": int(device),
        "ops": ops.tolist(),
        "edges": [[u + 1, v + 1, float(b)] for (u, v), b in zip(edges, message_bits)],
        "in_bits": float(in_bits),
        "out_bits": out_bits.tolist(),
    }


def build(p, rng_structure: np.random.Generator, rng_env: np.random.Generator):
    """The nominal instance and the per-device mean SNR."""
    return build_with(workflow_job, p, rng_structure)


def build_with(draw_job, p, rng_structure: np.random.Generator):
    """:func:`build` with the workflows drawn by ``draw_job(rng, p, device)`` (``workflow-v2``'s
    :func:`offbench.families.workflow_mrlco.workflow_job` shares the rest)."""
    nd, nj = p["n_devices"], p["n_jobs"]
    check_size(n_devices=nd, n_jobs=nj, n_layers=nj * p["tasks"][0], where="n_devices/n_jobs")
    job_device = np.minimum((rng_structure.random(nj) * nd).astype(np.int64), nd - 1)
    # One generator per workflow: a workflow's draws do not shift the next one's.
    seeds = rng_structure.integers(0, 2**63 - 1, size=nj)
    jobs = [draw_job(np.random.default_rng(int(s)), p, d) for s, d in zip(seeds, job_device)]
    speed = loguniform(rng_structure, p["device_speed"][0], p["device_speed"][1], nd)
    power = _uniform(rng_structure, p["device_power"], nd)
    u_net = rng_structure.random(nd)
    net_idx = np.minimum((u_net * len(p["networks"])).astype(np.int64), len(p["networks"]) - 1)
    links, snr = network_devices(net_idx, p["networks"])
    u_cap = rng_structure.random(2)  # drawn whether used or not
    capacity = dag_capacities(p, jobs, u_cap)
    inst = dag_instance(
        w_time=p["w_time"], w_energy=p["w_energy"], edge_speed=p["edge_speed"],
        cloud_speed=p["cloud_speed"], backhaul_rate=p["backhaul_rate"],
        backhaul_latency=p["backhaul_latency"],
        dev={"speed": speed, "power_compute": power, **links}, jobs=jobs, **capacity,
    )
    return inst, snr
