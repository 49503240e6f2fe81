"""Generator of the ``dmro`` family: the setting of DMRO (Qu et al., IEEE TNSM 2021).

IoT devices each run one DNN inference per frame, cut into a few fine-grained subtasks; every
subtask runs on the device, the edge or the cloud; the cost weighs delay and energy. The wireless
channel is DROO's (Huang et al., IEEE TMC 2020), on which DMRO builds: the mean gain of each
device follows DROO's path-loss model and fades per frame (Rayleigh). Environments differ in the
DNN the devices run and in the bandwidth of the wireless link. See ``instances/dmro.toml`` for
the documentation of every number.
"""

from __future__ import annotations

import math

import numpy as np

from ..instance import check_size
from .param import FParam
from ._common import (DROO_N0, INPUT_ENCODINGS, MODELS, _draft_value, assemble, dnn_job,
                      droo_mean_gain, loguniform, n_units, server_params, shannon_rate)

#: The parameters of DROO's devices and links (shared with ``dmro-v2``).
DEVICE_PARAMS = (
    FParam("bandwidth_hz", float, low=1.0, doc="wireless bandwidth B of each device link, Hz"),
    FParam("distance_m", "range", low=0.1, doc="device-to-access-point distance range, m (DROO)"),
    FParam("tx_power", float, low=1e-6, doc="device radiated power in the rate formula, W"),
    FParam("ap_power", float, low=1e-6, doc="access point radiated power (downlink), W (DROO: 3)"),
    FParam("power_tx", float, low=0.0, doc="device power drawn while sending, W"),
    FParam("power_rx", float, low=0.0, doc="device power drawn while receiving, W"),
    FParam("link_latency", float, low=0.0, doc="one-way latency of a device link, s"),
    FParam("device_speed", "range", low=1.0, doc="device speed range (log-uniform), FLOP/s"),
    FParam("device_power", "range", low=0.0, doc="device compute power range (uniform), W"),
)

#: The parameter of the jobs' weights (shared with ``dmro-v2``).
JOB_WEIGHTS = FParam("job_weights", str, choices=("droo", "droo-swapped", "equal"),
                     doc="job weights 1, 1.5, 1, 1.5, ... (droo: DROO's default), 1.5, 1, ... "
                         "(droo-swapped: DROO's alternated-weights experiment) or all 1")

PARAMS = (
    FParam("n_devices", int, low=1, doc="IoT devices, one DNN job each (DROO's N = 10)"),
    FParam("n_layers", int, low=1, doc="subtasks per job: the DNN's units merged into this many "
                                       "groups of about equal FLOPs"),
    FParam("model", str, choices=MODELS, doc="the DNN every device runs (a built-in profile)"),
    FParam("input_encoding", str, choices=INPUT_ENCODINGS,
           doc="input sent as a float32 tensor (fp32) or a compressed image (jpeg)"),
    *DEVICE_PARAMS,
    *server_params(),
    JOB_WEIGHTS,
)

#: Parameters that fix the structure (a stream's environments may not change them).
STRUCTURAL = frozenset({"n_devices", "n_layers"})


def check(p) -> str | None:
    """Cross-parameter checks; a message for the user, or None."""
    units = n_units(p["model"])
    if p["n_layers"] > units:
        return (f"n_layers = {p['n_layers']} is more than the {units} units of {p['model']}; "
                f"choose n_layers <= {min(n_units(m) for m in MODELS)} to fit every model")
    return None


def droo_devices(p, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    """DROO's devices and links: the per-device arrays of an instance and the mean uplink SNR.

    Draws, from ``rng``, the distances, the speeds (log-uniform) and the compute powers, in that
    order (``p["n_devices"]`` of each); everything else follows from the parameters.
    """
    nd = p["n_devices"]
    dist = rng.uniform(p["distance_m"][0], p["distance_m"][1], nd)
    speed = loguniform(rng, p["device_speed"][0], p["device_speed"][1], nd)
    power = rng.uniform(p["device_power"][0], p["device_power"][1], nd)
    h = droo_mean_gain(dist)
    snr_up = p["tx_power"] * h / DROO_N0
    snr_down = p["ap_power"] * h / DROO_N0
    dev = {
        "speed": speed,
        "power_compute": power,
        "power_tx": np.full(nd, p["power_tx"]),
        "power_rx": np.full(nd, p["power_rx"]),
        "rate_up": shannon_rate(p["bandwidth_hz"], snr_up),
        "rate_down": shannon_rate(p["bandwidth_hz"], snr_down),
        "latency": np.full(nd, p["link_latency"]),
    }
    return dev, snr_up


def job_weights(kind: str, n: int) -> np.ndarray:
    """The ``n`` jobs' weights for ``job_weights = kind`` (see :data:`JOB_WEIGHTS`)."""
    odd = np.arange(n) % 2 == 1
    weight = {"droo": (1.0, 1.5), "droo-swapped": (1.5, 1.0), "equal": (1.0, 1.0)}[kind]
    return np.where(odd, weight[1], weight[0])


def build(p, rng_structure: np.random.Generator, rng_env: np.random.Generator):
    """The nominal instance and the per-device mean uplink SNR."""
    nd = p["n_devices"]
    check_size(n_devices=nd, n_jobs=nd, layers_per_job=p["n_layers"], n_layers=nd * p["n_layers"],
               where="n_devices/n_layers")  # before anything of that size is drawn
    # Physical devices: the same in every environment of one seed.
    dev, snr_up = droo_devices(p, rng_structure)
    ops, bits = dnn_job(p["model"], p["n_layers"], input_encoding=p["input_encoding"])
    weight = job_weights(p["job_weights"], nd)
    inst = assemble(
        w_time=p["w_time"], w_energy=p["w_energy"], w_tardiness=0.0,
        edge_speed=p["edge_speed"], cloud_speed=p["cloud_speed"],
        edge_capacity=np.inf, cloud_capacity=np.inf, dev=dev,
        job_device=np.arange(nd), job_ops=[ops] * nd, job_bits=[bits] * nd, weight=weight,
        backhaul_rate=p["backhaul_rate"], backhaul_latency=p["backhaul_latency"],
    )
    return inst, snr_up


def build_many(p, rngs) -> list:
    """``[build(p, rs, re) for rs, re in rngs]``: the same draws from each member's own
    generators, in the same order, and the arithmetic once for all members (every operation
    is elementwise: the same numbers bit for bit; :mod:`offbench.families.batch`). The members'
    drafts share the arrays that do not depend on the draws (read-only)."""
    nd = p["n_devices"]
    check_size(n_devices=nd, n_jobs=nd, layers_per_job=p["n_layers"], n_layers=nd * p["n_layers"],
               where="n_devices/n_layers")
    K = len(rngs)
    dist, logu, power = np.empty((K, nd)), np.empty((K, nd)), np.empty((K, nd))
    lo, hi = math.log(p["device_speed"][0]), math.log(p["device_speed"][1])
    for k, (rs, _) in enumerate(rngs):  # droo_devices' draws, in its order
        dist[k] = rs.uniform(p["distance_m"][0], p["distance_m"][1], nd)
        logu[k] = rs.uniform(lo, hi, nd)
        power[k] = rs.uniform(p["device_power"][0], p["device_power"][1], nd)
    speed = np.exp(logu)  # loguniform
    h = droo_mean_gain(dist)
    snr_up = p["tx_power"] * h / DROO_N0
    snr_down = p["ap_power"] * h / DROO_N0
    rate_up = shannon_rate(p["bandwidth_hz"], snr_up)
    rate_down = shannon_rate(p["bandwidth_hz"], snr_down)
    ops, bits = dnn_job(p["model"], p["n_layers"], input_encoding=p["input_encoding"])
    dev = {"speed": speed[0], "power_compute": power[0], "power_tx": np.full(nd, p["power_tx"]),
           "power_rx": np.full(nd, p["power_rx"]), "rate_up": rate_up[0], "rate_down": rate_down[0],
           "latency": np.full(nd, p["link_latency"])}
    first = assemble(
        w_time=p["w_time"], w_energy=p["w_energy"], w_tardiness=0.0,
        edge_speed=p["edge_speed"], cloud_speed=p["cloud_speed"],
        edge_capacity=np.inf, cloud_capacity=np.inf, dev=dev,
        job_device=np.arange(nd), job_ops=[ops] * nd, job_bits=[bits] * nd,
        weight=job_weights(p["job_weights"], nd),
        backhaul_rate=p["backhaul_rate"], backhaul_latency=p["backhaul_latency"],
    )
    out = [(first, snr_up[0])]
    own = (("dev_speed", speed), ("dev_power_compute", power), ("dev_rate_up", rate_up),
           ("dev_rate_down", rate_down))
    for k in range(1, K):
        inst = object.__new__(type(first))
        d = inst.__dict__
        d.update(first.__dict__)
        for name, a in own:
            d[name] = _draft_value("array", a[k])
        out.append((inst, snr_up[k]))
    return out
