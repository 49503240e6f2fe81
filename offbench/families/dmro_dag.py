"""Generator of ``dmro-v2`` (a version of the dmro family with a generator of its own): DMRO's
setting with workflow DAGs for jobs.

The devices, links and servers are dmro-v1's: DROO's channel (Huang et al., IEEE TMC 2020: the
path-loss mean gain of each device at a distance, Shannon rates over the link's bandwidth,
Rayleigh fading per frame in streams), device speeds log-uniform and compute powers uniform in
their ranges, an edge and a cloud behind a backhaul. Each device runs one workflow per frame: a
random DAG of tasks with a message on each edge, drawn as the ``workflow`` family draws them
(:func:`offbench.families.workflow.workflow_job`: daggen's layered algorithm, as MRLCO's data
set; per-edge messages; a communication-to-computation ratio at a reference rate and speed).

Environments differ in the links' bandwidth and in the workflows' communication-to-computation
ratio: the ratio scales every task's operations and leaves the DAG and its messages as they are
(its uniform draw is made whatever its range), so a stream keeps one DAG structure across every
environment. See ``instances/dmro.toml`` (``[v2]``).
"""

from __future__ import annotations

import numpy as np

from ..instance import check_size
from .param import FParam
from ._common import server_params
from .dmro import DEVICE_PARAMS, JOB_WEIGHTS, droo_devices, job_weights
from ._dag import dag_instance
from .workflow import PARAMS as _WORKFLOW_PARAMS
from .workflow import workflow_job

_SHAPE = ("tasks", "fat", "density", "regular", "ccr", "message_mib", "task_mib", "ref_rate",
          "ref_speed")

PARAMS = (
    FParam("n_devices", int, low=1, doc="IoT devices, one workflow each (DROO's N = 10)"),
    *(p for p in _WORKFLOW_PARAMS if p.name in _SHAPE),
    *DEVICE_PARAMS,
    *server_params(),
    JOB_WEIGHTS,
)

#: Parameters that fix the structure (a stream's environments may not change them).
STRUCTURAL = frozenset({"n_devices", "tasks", "fat", "density", "regular"})


def build(p, rng_structure: np.random.Generator, rng_env: np.random.Generator):
    """The nominal instance and the per-device mean uplink SNR."""
    return build_with(workflow_job, p, rng_structure)


def build_with(draw_job, p, rng_structure: np.random.Generator):
    """:func:`build` with the workflows drawn by ``draw_job(rng, p, device)`` (``dmro-v3``'s
    :func:`offbench.families.workflow_mrlco.workflow_job` shares the rest)."""
    nd = p["n_devices"]
    check_size(n_devices=nd, n_jobs=nd, n_layers=nd * p["tasks"][0], where="n_devices/tasks")
    # Physical devices, drawn as dmro-v1 draws them: the same in every environment of one seed.
    dev, snr_up = droo_devices(p, rng_structure)
    # One workflow per device, each from a generator of its own.
    seeds = rng_structure.integers(0, 2**63 - 1, size=nd)
    jobs = [draw_job(np.random.default_rng(int(s)), p, d) for d, s in enumerate(seeds)]
    for job, w in zip(jobs, job_weights(p["job_weights"], nd)):
        job["weight"] = float(w)
    inst = dag_instance(
        w_time=p["w_time"], w_energy=p["w_energy"], edge_speed=p["edge_speed"],
        cloud_speed=p["cloud_speed"], backhaul_rate=p["backhaul_rate"],
        backhaul_latency=p["backhaul_latency"], dev=dev, jobs=jobs,
    )
    return inst, snr_up
