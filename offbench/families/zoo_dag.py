"""Generator of ``zoo-v2`` (a version of the zoo family with a generator of its own): the zoo's
devices and networks running DNNs as DAGs.

Every job is one inference of a built-in DNN as a DAG of layers (:mod:`offbench.dag_profiles`:
ResNet-18, MobileNetV2, GoogLeNet, ViT-Ti/16 or ViT-B/16, traced with ``torch.fx``; skip
connections, Inception branches and attention are edges), on the ``zoo`` family's device classes
and access networks (:data:`offbench.families._common.DEVICE_CLASSES`,
:data:`~offbench.families._common.NETWORKS`), with the input sent as a float32 tensor or a
compressed image. Node outputs are shared tensors (``out_bits``: a tensor read by several layers
is sent once over each hop). As in the fleet families (``capacitated``, ``deadline``), the edge
and the cloud may have capacities (a fraction of the frame's total FLOPs) and jobs soft deadlines
(a fraction of the job's best single-tier time in the nominal scenario, by :mod:`offbench.cost`;
a published frame's best times vary around it, its FLOPs do not: the zoo's frames keep task
sizes). See
``instances/zoo.toml`` (``[v2]``).

The random numbers are drawn in the order of ``zoo-v1``'s generator (jobs' devices,
models, encodings; then the devices' classes, speeds and networks), all from ``rng_structure``,
so two environments of one seed share the structure and the devices.
"""

from __future__ import annotations

import functools

import numpy as np

from ..dag_profiles import dag_models, load_dag_profile
from ..instance import check_size
from .param import FParam
from ._common import DEVICE_CLASSES, JPEG_INPUT_BITS, network_devices, server_params
from ._dag import dag_capacities, dag_instance
from ._fleet import best_single_tier_times, capacity_params, deadline_params, device_params

PARAMS = (
    FParam("n_devices", int, low=1, doc="devices"),
    FParam("n_jobs", int, low=1, doc="jobs (DNN inferences), each on a device drawn uniformly"),
    FParam("models", "list", choices=dag_models(),
           doc="DNNs a job is drawn from (uniformly), as DAGs of layers (offbench.dag_profiles)"),
    *device_params(),
    *server_params(),
    *capacity_params(),
    *deadline_params(),
)

#: Parameters that fix the structure (a stream's environments may not change them).
STRUCTURAL = frozenset({"n_devices", "n_jobs", "models"})


def _pick(u: np.ndarray, choices) -> list:
    return [choices[int(k)] for k in (u * len(choices)).astype(np.int64).clip(0, len(choices) - 1)]


@functools.lru_cache(maxsize=None)
def _job_template(model: str) -> dict:
    return load_dag_profile(model).to_job()


def dnn_dag_job(model: str, device: int, input_encoding: str) -> dict:
    """One inference of a built-in DNN as a version-2 job (FLOPs; float32 tensors)."""
    job = dict(_job_template(model), device=int(device))
    if input_encoding == "jpeg":
        job["in_bits"] = float(JPEG_INPUT_BITS)
    elif input_encoding != "fp32":
        raise ValueError(f"unknown input encoding {input_encoding!r}")
    return job


def build(p, rng_structure: np.random.Generator, rng_env: np.random.Generator):
    """The nominal instance and the per-device mean SNR."""
    nd, nj = p["n_devices"], p["n_jobs"]
    check_size(n_devices=nd, n_jobs=nj, n_layers=nj, where="n_devices/n_jobs")
    rng = rng_structure
    job_device = np.minimum((rng.random(nj) * nd).astype(np.int64), nd - 1)
    models = _pick(rng.random(nj), p["models"])
    u_enc = rng.random(nj)
    jobs = []
    for i, model in enumerate(models):
        enc = p["input_encoding"]
        if enc == "mixed":
            enc = "jpeg" if u_enc[i] < 0.5 else "fp32"
        jobs.append(dnn_dag_job(model, job_device[i], enc))
    classes = [DEVICE_CLASSES[c] for c in _pick(rng.random(nd), p["device_classes"])]
    j = p["speed_jitter"]
    speed = np.array([c.speed for c in classes]) * (1.0 - j + 2.0 * j * rng.random(nd))
    power = np.array([c.power_compute for c in classes])
    u_net = rng.random(nd)
    net_idx = np.minimum((u_net * len(p["networks"])).astype(np.int64), len(p["networks"]) - 1)
    links, snr = network_devices(net_idx, p["networks"])
    # Capacities and deadlines, as the fleet families draw them (drawn whether used or not).
    u_cap, u_tight, u_nodl = rng.random(2), rng.random(nj), rng.random(nj)
    capacity = dag_capacities(p, jobs, u_cap)
    inst = dag_instance(
        w_time=p["w_time"], w_energy=p["w_energy"], edge_speed=p["edge_speed"],
        cloud_speed=p["cloud_speed"], backhaul_rate=p["backhaul_rate"],
        backhaul_latency=p["backhaul_latency"],
        w_tardiness=p["w_tardiness"] if p["deadlines"] else 0.0,
        dev={"speed": speed, "power_compute": power, **links}, jobs=jobs, **capacity,
    )
    if p["deadlines"]:
        lo, hi = p["tightness"]
        deadline = best_single_tier_times(inst) * (lo + (hi - lo) * u_tight)
        deadline[u_nodl < p["no_deadline_fraction"]] = np.inf
        inst = inst.replace(deadline=deadline)
    return inst, snr
