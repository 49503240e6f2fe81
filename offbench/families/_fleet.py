"""A fleet of heterogeneous devices running real DNNs: the generator behind ``capacitated``,
``deadline``, ``zoo`` and ``scale``.

Devices belong to classes (:data:`offbench.families._common.DEVICE_CLASSES`) and sit on access
networks (:data:`offbench.families._common.NETWORKS`); each job is one inference of a built-in
DNN (:mod:`offbench.profiles`), either whole (every block a layer) or with its units merged into
a few groups at random cut points; the edge and the cloud may have capacities (a fraction of the
frame's total nominal FLOPs) and jobs may have soft deadlines (a fraction of the job's best
single-tier time in the nominal instance, computed with :mod:`offbench.cost`).

:func:`build_fleet` draws the *nominal* instance (mean channel, nominal task sizes, no load), and
the capacities and deadlines are set on it; ``Family.generate`` publishes one frame of that
scenario (:mod:`offbench.streams`: fading, task and input sizes, loads), whose FLOPs and best
single-tier times differ, so a published capacity or deadline is another fraction of them. The
families' docs (``instances/*.toml``) give both ranges; ``benchmarks/scripts/family_ranges.py``
measures the published ones.

Every random number comes from ``rng_structure``, in a fixed order and count that depend only on
the structural parameters, so two environments of one seed share the structure and the physical
devices (an environment changes, say, the access network of every device, not the devices).
"""

from __future__ import annotations

import numpy as np

from ..instance import check_size
from .param import FParam
from ._common import (DEVICE_CLASSES, INPUT_ENCODINGS, MAX_UNITS, MODELS, NETWORKS, assemble,
                      dnn_job, draft_replace, n_units, network_devices, random_cuts, server_params)

ENCODINGS = INPUT_ENCODINGS + ("mixed",)


def device_params() -> tuple[FParam, ...]:
    """The parameters of a fleet's devices: classes, networks, speed jitter and input encoding."""
    return (
        FParam("device_classes", "list", choices=tuple(DEVICE_CLASSES),
               doc="device classes a device is drawn from (uniformly)"),
        FParam("networks", "list", choices=tuple(NETWORKS),
               doc="access networks a device is drawn from (uniformly)"),
        FParam("speed_jitter", float, low=0.0, high=0.9,
               doc="each device's speed is its class's times a factor uniform in [1-j, 1+j]"),
        FParam("input_encoding", str, choices=ENCODINGS,
               doc="inputs as float32 tensors, compressed images, or each job either at random"),
    )


def capacity_params() -> tuple[FParam, ...]:
    """The parameters of the edge's and the cloud's capacities."""
    return (
        FParam("capacities", bool, doc="give the edge and the cloud capacities"),
        FParam("edge_capacity", "range", low=0.0,
               doc="edge capacity as a fraction of the frame's total nominal FLOPs (uniform; "
                   "a published frame's FLOPs vary around them)"),
        FParam("cloud_capacity", "range", low=0.0,
               doc="cloud capacity as a fraction of the frame's total nominal FLOPs (uniform; "
                   "a published frame's FLOPs vary around them)"),
    )


def deadline_params() -> tuple[FParam, ...]:
    """The parameters of jobs' soft deadlines."""
    return (
        FParam("deadlines", bool, doc="give jobs soft deadlines"),
        FParam("tightness", "range", low=0.0,
               doc="deadline / (the job's best time on a single tier in the nominal scenario), "
                   "uniform; a published frame's best times vary around them"),
        FParam("no_deadline_fraction", float, low=0.0, high=1.0,
               doc="share of jobs without a deadline"),
        FParam("w_tardiness", float, low=0.0, doc="weight of tardiness (per second late)"),
    )


def fleet_params(*, layers: bool = True, capacities: bool = True, deadlines: bool = True) -> tuple[FParam, ...]:
    """The parameters of a fleet (families pick the groups they use)."""
    out = [
        FParam("n_devices", int, low=1, doc="devices"),
        FParam("n_jobs", int, low=1, doc="jobs (DNN inferences), each on a device drawn uniformly"),
    ]
    if layers:
        out.append(FParam("layers", "int_range", low=1,
                          doc="layers per job, uniform in this range (at most the DNN's units); "
                              "the DNN's units are merged at random cut points"))
    out += [
        FParam("models", "list", choices=MODELS, doc="DNNs a job is drawn from (uniformly)"),
        FParam("granularity", str, choices=("block", "layer"),
               doc="profile granularity of the DNNs (offbench.profiles)"),
        *device_params(),
        *server_params(),
    ]
    if capacities:
        out += capacity_params()
    if deadlines:
        out += deadline_params()
    return tuple(out)


STRUCTURAL = frozenset({"n_devices", "n_jobs", "layers", "models", "granularity"})


def check(p) -> str | None:
    if "layers" in p:
        lo = p["layers"][0]
        smallest = min(n_units(m, p["granularity"]) for m in p["models"])
        if lo > smallest:
            return (f"layers = {list(p['layers'])} starts above the {smallest} units of the "
                    "smallest model in 'models'")
    return None


def _pick(u: np.ndarray, choices) -> list:
    return [choices[int(k)] for k in (u * len(choices)).astype(np.int64).clip(0, len(choices) - 1)]


def build_fleet(p, rng: np.random.Generator):
    """The nominal instance and per-device mean SNR of a fleet (see the module docstring)."""
    nd, nj = p["n_devices"], p["n_jobs"]
    check_size(n_devices=nd, n_jobs=nj, n_layers=nj * (p["layers"][0] if "layers" in p else 1),
               where="n_devices/n_jobs")  # before anything of that size is drawn
    # -- structure: jobs, their devices, models, layer counts and cut points.
    u_dev = rng.random(nj)
    u_model = rng.random(nj)
    job_device = np.minimum((u_dev * nd).astype(np.int64), nd - 1)
    models = _pick(u_model, p["models"])
    u_layers = rng.random(nj)
    job_ops, job_bits = [], []
    u_enc = rng.random(nj)
    cut_keys = rng.random((nj, MAX_UNITS))
    for i, m in enumerate(models):
        units = n_units(m, p["granularity"])
        if "layers" in p:
            lo, hi = p["layers"][0], min(p["layers"][1], units)
            L = lo + min(int(u_layers[i] * (hi - lo + 1)), hi - lo)
            cuts = random_cuts(cut_keys[i], units, L)
        else:
            cuts = np.arange(units)
        enc = p["input_encoding"]
        if enc == "mixed":
            enc = "jpeg" if u_enc[i] < 0.5 else "fp32"
        ops, bits = dnn_job(m, len(cuts), input_encoding=enc, granularity=p["granularity"],
                            cuts=cuts)
        job_ops.append(ops)
        job_bits.append(bits)
    # -- physical devices.
    u_class = rng.random(nd)
    u_jitter = rng.random(nd)
    u_net = rng.random(nd)
    classes = [DEVICE_CLASSES[c] for c in _pick(u_class, p["device_classes"])]
    j = p["speed_jitter"]
    speed = np.array([c.speed for c in classes]) * (1.0 - j + 2.0 * j * u_jitter)
    power = np.array([c.power_compute for c in classes])
    net_idx = np.minimum((u_net * len(p["networks"])).astype(np.int64), len(p["networks"]) - 1)
    links, snr = network_devices(net_idx, p["networks"])
    dev = {"speed": speed, "power_compute": power, **links}
    # -- capacities and deadlines (their draws are made whether used or not).
    u_cap = rng.random(2)
    u_tight = rng.random(nj)
    u_nodl = rng.random(nj)
    total_ops = float(sum(o.sum() for o in job_ops))
    edge_cap = cloud_cap = np.inf
    if p.get("capacities"):
        lo, hi = p["edge_capacity"]
        edge_cap = total_ops * (lo + (hi - lo) * u_cap[0])
        lo, hi = p["cloud_capacity"]
        cloud_cap = total_ops * (lo + (hi - lo) * u_cap[1])
    inst = assemble(
        w_time=p["w_time"], w_energy=p["w_energy"],
        w_tardiness=p["w_tardiness"] if p.get("deadlines") else 0.0,
        edge_speed=p["edge_speed"], cloud_speed=p["cloud_speed"],
        edge_capacity=edge_cap, cloud_capacity=cloud_cap, dev=dev, job_device=job_device,
        job_ops=job_ops, job_bits=job_bits,
        backhaul_rate=p["backhaul_rate"], backhaul_latency=p["backhaul_latency"],
    )
    if p.get("deadlines"):
        best = best_single_tier_times(inst)
        lo, hi = p["tightness"]
        deadline = best * (lo + (hi - lo) * u_tight)
        deadline[u_nodl < p["no_deadline_fraction"]] = np.inf
        inst = draft_replace(inst, deadline=deadline)
    return inst, snr


def best_single_tier_times(inst) -> np.ndarray:
    """Each job's shortest time among all-device, all-edge and all-cloud (by the cost model)."""
    from ..cost import evaluate

    times = []
    for k in (0, 1, 2):
        ev = evaluate(inst, np.full(inst.n_layers, k, dtype=np.int8))
        times.append([j.time for j in ev.jobs])
    return np.min(np.array(times), axis=0)
