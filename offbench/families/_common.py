"""Shared numbers and helpers of the family generators, each with its source.

Everything here is a constant of the physical setting or a small function that turns constants
into instance arrays; nothing here prices a decision (that is :mod:`offbench.cost`'s job).
Where a number is taken from the literature, the comment says where; where it is offbench's
own choice, it says so.

Units: operations are FLOPs (``2 * MACs``, the convention of :mod:`offbench.profiles`), so
speeds are FLOP/s; bits, bit/s, seconds, watts, joules.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np

from ..profiles import load_builtin_profile

# ---------------------------------------------------------------------------------------------
# Device classes: sustained FP32 DNN-inference throughput and the power drawn while computing.
# These are offbench's estimates from public benchmarks, not a paper's table.


@dataclass(frozen=True)
class DeviceClass:
    name: str
    speed: float          # FLOP/s sustained on convolutional DNN inference, FP32
    power_compute: float  # W while computing
    note: str


DEVICE_CLASSES: dict[str, DeviceClass] = {
    # Cortex-M7 at 480 MHz (STM32H7 class) with CMSIS-NN-style kernels: ~0.6 FLOP/cycle;
    # ~0.3 W active (datasheet order of magnitude). Offbench's estimate.
    "mcu": DeviceClass("mcu", 3.0e8, 0.3, "microcontroller (Cortex-M7 @ 480 MHz)"),
    # Raspberry Pi 4 B (4x Cortex-A72 @ 1.5 GHz): MobileNetV2 (0.6 GFLOP) in ~100 ms with an
    # optimized FP32 runtime -> ~6 GFLOP/s; ~5 W under load. Offbench's estimate.
    "rpi": DeviceClass("rpi", 6.0e9, 5.0, "Raspberry-Pi-class board (Cortex-A72 x4)"),
    # Jetson Nano (128-core Maxwell, 236 GFLOP/s FP32 peak) in its 10 W mode, ~20% of peak
    # sustained on FP32 convolutions -> 5e10 FLOP/s. Offbench's estimate.
    "jetson": DeviceClass("jetson", 5.0e10, 10.0, "Jetson-class embedded GPU (Nano, 10 W)"),
    # A flagship phone CPU (big cores, FP32): MobileNetV2 in ~30 ms -> ~2e10 FLOP/s; ~3.5 W.
    # Offbench's estimate.
    "phone": DeviceClass("phone", 2.0e10, 3.5, "smartphone (flagship CPU, FP32)"),
}

# ---------------------------------------------------------------------------------------------
# Access networks. Uplink rates: the OpenSignal 2017 averages that Neurosurgeon (Kang et al.,
# ASPLOS 2017) and DADS (Hu et al., INFOCOM 2019) use: CAT1 0.13, 3G 1.1, 4G 5.85, Wi-Fi 18.88
# Mbit/s. Radio power: the throughput-based models of Huang et al., "A close examination of
# performance and power characteristics of 4G LTE networks", MobiSys 2012 (the models
# Neurosurgeon uses): P = alpha * throughput(Mbit/s) + beta, in mW. 5G is offbench's choice
# (no 2017 average exists); so are every downlink rate (3x the uplink) and every latency.
# At these rates the linear model gives watts above what a phone's radio typically draws: Wi-Fi
# 5.5 W sending at 18.88 Mbit/s and 7.9 W receiving at 3x that, 4G 3.9 W / 2.2 W. What the
# cost model uses is energy per bit, alpha + beta / rate (Wi-Fi 0.29 uJ/bit up, 4G 0.66,
# 3G 1.6, CAT1 10), which is the published model's; read the watts in that light. The 5G
# powers below give 0.06 uJ/bit up: an optimistic choice, below every network of the model.


@dataclass(frozen=True)
class Network:
    name: str
    rate_up: float       # bit/s
    rate_down: float     # bit/s
    latency: float       # s, one way, per hop
    power_tx: float      # W while sending at rate_up
    power_rx: float      # W while receiving at rate_down
    snr_db: float        # mean SNR used to map fading gains to rates (offbench's choice)
    note: str


def _huang_power(alpha_mw_per_mbps: float, beta_mw: float, rate_bps: float) -> float:
    return (alpha_mw_per_mbps * rate_bps / 1e6 + beta_mw) / 1000.0


# Huang et al. 2012 coefficients (mW per Mbit/s, mW).
_LTE = {"alpha_u": 438.39, "alpha_d": 51.97, "beta": 1288.04}
_3G = {"alpha_u": 868.98, "alpha_d": 122.12, "beta": 817.88}
_WIFI = {"alpha_u": 283.17, "alpha_d": 137.01, "beta": 132.86}


def _network(name, up_mbps, latency, coeff, snr_db, note, *, fixed_power=None) -> Network:
    up = up_mbps * 1e6
    down = 3.0 * up
    if fixed_power is not None:
        ptx, prx = fixed_power
    else:
        ptx = _huang_power(coeff["alpha_u"], coeff["beta"], up)
        prx = _huang_power(coeff["alpha_d"], coeff["beta"], down)
    return Network(name, up, down, latency, ptx, prx, snr_db, note)


NETWORKS: dict[str, Network] = {
    "cat1": _network("cat1", 0.13, 0.08, _LTE, 5.0, "LTE Cat-1 class IoT link (OpenSignal 2017 CAT1)"),
    "3g": _network("3g", 1.1, 0.05, _3G, 10.0, "3G (OpenSignal 2017)"),
    "4g": _network("4g", 5.85, 0.025, _LTE, 15.0, "4G LTE (OpenSignal 2017)"),
    "wifi": _network("wifi", 18.88, 0.005, _WIFI, 25.0, "Wi-Fi (OpenSignal 2017)"),
    # 5G sub-6 GHz: 40 Mbit/s uplink, 10 ms, 2.5 W / 1.5 W: offbench's choice, of the order of
    # the uplink throughputs and phone power measured by Narayanan et al., SIGCOMM 2021.
    "5g": _network("5g", 40.0, 0.010, _LTE, 20.0, "5G sub-6 GHz (offbench's choice)",
                   fixed_power=(2.5, 1.5)),
}

# ---------------------------------------------------------------------------------------------
# Servers (offbench's choices). The edge is a server shared by the devices of a cell, 5e11
# FLOP/s sustained (e.g. one embedded-class GPU, or a share of a data-centre GPU); the cloud is
# 1e13 FLOP/s but behind the backhaul, so heavy DNNs (VGG-16) go to the cloud and light ones
# stay at the edge. Energy is counted on the devices only, as in Neurosurgeon, DROO and DMRO
# (servers' energy_per_op = 0). The numbers themselves live in the family definitions
# (instances/*.toml), as parameters.
# Edge-to-cloud backhaul: 1 Gbit/s, 20 ms one way (a regional data centre). Offbench's choice;
# also a family parameter.

# ---------------------------------------------------------------------------------------------
# DROO's channel model (Huang, Bi, Zhang, "Deep reinforcement learning for online computation
# offloading in wireless powered mobile-edge computing networks", IEEE TMC 2020, Sec. VI):
# average gain h = A_d (c / (4 pi f_c d))^d_e with A_d = 4.11, f_c = 915 MHz, d_e = 2.8;
# distances d uniform in [2.5, 5.2] m; noise power N0 = 1e-10 W; uplink rate
# B / v_u * log2(1 + p h / N0) with v_u = 1.1 (communication overhead). DROO's P = 3 W is the
# access point's wireless power transfer; the dmro family's use of it for a data downlink, and its
# device transmit power, are offbench's choices (instances/dmro.toml).
DROO_A_D = 4.11
DROO_F_C = 915e6
DROO_D_E = 2.8
DROO_N0 = 1e-10
DROO_V_U = 1.1
LIGHT_SPEED = 3e8


def droo_mean_gain(distance_m: np.ndarray) -> np.ndarray:
    """DROO's average channel power gain at a distance (free-space-like path loss)."""
    d = np.asarray(distance_m, dtype=np.float64)
    return DROO_A_D * (LIGHT_SPEED / (4.0 * math.pi * DROO_F_C * d)) ** DROO_D_E


def shannon_rate(bandwidth_hz: float, snr: np.ndarray) -> np.ndarray:
    """DROO's uplink rate ``B / v_u * log2(1 + snr)`` in bit/s."""
    return bandwidth_hz / DROO_V_U * np.log2(1.0 + np.asarray(snr, dtype=np.float64))


# ---------------------------------------------------------------------------------------------
# DNN chains from the built-in profiles (offbench.profiles; ops are FLOPs).
MODELS = ("alexnet", "vgg16", "resnet18", "mobilenet_v2")
#: A 224x224 RGB photo as a JPEG at high quality (~3.8 bit/pixel): 24 kB. Offbench's choice.
JPEG_INPUT_BITS = 24_000 * 8
INPUT_ENCODINGS = ("fp32", "jpeg")


@functools.lru_cache(maxsize=None)
def _units(model: str, granularity: str) -> tuple[np.ndarray, np.ndarray]:
    p = load_builtin_profile(model, granularity)
    ops = np.asarray(p.ops, dtype=np.float64)
    bits = np.asarray(p.bits, dtype=np.float64)
    ops.setflags(write=False)
    bits.setflags(write=False)
    return ops, bits


def model_units(model: str, granularity: str = "block") -> tuple[np.ndarray, np.ndarray]:
    """FLOPs of each unit, and bits of the input followed by each unit's output (float32)."""
    ops, bits = _units(model, granularity)
    return ops.copy(), bits.copy()


def coarsen(ops: np.ndarray, bits: np.ndarray, cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge consecutive units into groups that end after the units ``cuts`` (0-based, the last
    one being the final unit): group ops are sums; a group's output is its last unit's."""
    cuts = np.asarray(cuts, dtype=np.int64)
    starts = np.concatenate([[0], cuts[:-1] + 1])
    g_ops = np.add.reduceat(ops, starts)
    g_bits = np.concatenate([[bits[0]], bits[cuts + 1]])
    return g_ops, g_bits


def balanced_cuts(ops: np.ndarray, n_groups: int) -> np.ndarray:
    """Cut a chain into ``n_groups`` groups of about equal FLOPs (deterministic).

    Group ``k`` ends at the first unit where the cumulative FLOPs reach ``(k + 1) / n_groups``
    of the total, with every group keeping at least one unit.
    """
    n = ops.size
    if not 1 <= n_groups <= n:
        raise ValueError(f"cannot cut {n} units into {n_groups} groups")
    cum = np.cumsum(ops)
    total = cum[-1]
    cuts = []
    prev = -1
    for k in range(n_groups - 1):
        target = total * (k + 1) / n_groups
        c = int(np.searchsorted(cum, target - 1e-9 * total))
        c = max(c, prev + 1)
        c = min(c, n - (n_groups - k))      # leave a unit for every later group
        cuts.append(c)
        prev = c
    cuts.append(n - 1)
    return np.array(cuts, dtype=np.int64)


def random_cuts(keys: np.ndarray, n_units: int, n_groups: int) -> np.ndarray:
    """``n_groups`` groups whose inner cut points are the ``n_groups - 1`` unit boundaries with
    the smallest random ``keys`` (one uniform key per boundary: a uniformly random subset)."""
    if not 1 <= n_groups <= n_units:
        raise ValueError(f"cannot cut {n_units} units into {n_groups} groups")
    if n_groups > 1:
        inner = np.sort(np.argsort(keys[:n_units - 1], kind="stable")[:n_groups - 1])
    else:
        inner = np.array([], dtype=np.int64)
    return np.concatenate([inner, [n_units - 1]]).astype(np.int64)


def dnn_job(model: str, n_groups: int, *, input_encoding: str = "fp32", feature_bits: int = 32,
            granularity: str = "block", cuts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``ops`` and ``bits`` of one job: a built-in DNN cut into ``n_groups`` groups.

    Parameters
    ----------
    model : str
    n_groups : int
        Layers of the job (at most the model's unit count); balanced by FLOPs unless ``cuts``.
    input_encoding : {"fp32", "jpeg"}
        The input as a float32 tensor, or as a compressed image (:data:`JPEG_INPUT_BITS`).
    feature_bits : int
        Bits per element of intermediate tensors (32: float32; 8: int8 features).
    """
    if cuts is None:
        ops, bits = _balanced_job(model, n_groups, input_encoding, feature_bits, granularity)
        return ops.copy(), bits.copy()
    return _job(model, n_groups, input_encoding, feature_bits, granularity, cuts)


@functools.lru_cache(maxsize=256)
def _balanced_job(model, n_groups, input_encoding, feature_bits, granularity):
    ops, bits = _job(model, n_groups, input_encoding, feature_bits, granularity, None)
    ops.setflags(write=False)
    bits.setflags(write=False)
    return ops, bits


def _job(model, n_groups, input_encoding, feature_bits, granularity, cuts):
    ops, bits = model_units(model, granularity)
    bits = bits * (feature_bits / 32.0)
    if input_encoding == "jpeg":
        bits[0] = JPEG_INPUT_BITS
    elif input_encoding == "fp32":
        bits[0] = bits[0] * (32.0 / feature_bits)
    else:
        raise ValueError(f"unknown input encoding {input_encoding!r}")
    if cuts is None:
        cuts = balanced_cuts(ops, n_groups)
    return coarsen(ops, bits, cuts)


def n_units(model: str, granularity: str = "block") -> int:
    """Units of a built-in model's profile."""
    return int(_units(model, granularity)[0].size)


#: No built-in profile has more units than this (MobileNetV2 at layer granularity has 54).
MAX_UNITS = 64


def server_params():
    """The generator parameters of the edge, the cloud, the backhaul and the cost weights, which
    every family declares alike."""
    from .param import FParam

    return (
        FParam("edge_speed", float, low=1.0, doc="edge server speed, FLOP/s"),
        FParam("cloud_speed", float, low=1.0, doc="cloud speed, FLOP/s"),
        FParam("backhaul_rate", float, low=1.0, doc="edge-cloud rate, bit/s"),
        FParam("backhaul_latency", float, low=0.0, doc="edge-cloud one-way latency, s"),
        FParam("w_time", float, low=0.0, doc="weight of delay (per second)"),
        FParam("w_energy", float, low=0.0, doc="weight of device energy (per joule)"),
    )


def loguniform(rng: np.random.Generator, lo: float, hi: float, size=None):
    return np.exp(rng.uniform(math.log(lo), math.log(hi), size))


def draft_instance(**fields) -> "Instance":
    """An :class:`~offbench.instance.Instance` made of generator arrays without validating them:
    a generator's intermediate step only.

    A family validates what it hands out (:class:`offbench.families.Family` builds a scenario's
    nominal instance through :func:`draft_replace` and validates it, or, for a static instance,
    validates the frame drawn from it), so the checks that user files need are not run twice
    or three times on the way. The fields are converted as the constructor converts them
    (floats, read-only contiguous float64 and int64 arrays); a field not given keeps its
    default (the optional DAG arrays: ``None``).
    """
    cls, spec = _instance_fields()
    inst = object.__new__(cls)
    d = inst.__dict__  # a frozen dataclass stores its fields here
    for name, kind, default in spec:
        if name not in fields:
            if default is dataclasses.MISSING:
                raise TypeError(f"draft_instance: the field {name!r} is required")
            d[name] = default
            continue
        d[name] = _draft_value(kind, fields[name])
    return inst


def _draft_value(kind: str, v):
    """A field's value converted as :func:`draft_instance` converts it."""
    if kind == "float":
        return float(v)
    if kind == "str":
        return str(v)
    if v is None:
        return None
    a = np.asarray(v)
    if kind == "int":
        a = a.astype(np.int64, copy=False)
    elif a.dtype.kind not in "bi":
        a = a.astype(np.float64, copy=False)
    a = np.ascontiguousarray(a)  # as the constructor does: read-only, not copied
    a.setflags(write=False)
    return a


#: Integer fields of an instance (the rest of its arrays are float64; DAG flags keep their kind).
_INT_FIELDS = frozenset({"job_device", "layer_offsets", "edge_offsets", "edge_src", "edge_dst"})


@functools.lru_cache(maxsize=None)
def _instance_fields():
    """``Instance`` and its fields as ``(name, kind, default)``, kind one of float, str, int,
    array (looked up once)."""
    from ..instance import Instance

    out = []
    for f in dataclasses.fields(Instance):
        kind = ("float" if f.type == "float" else "str" if f.name == "name"
                else "int" if f.name in _INT_FIELDS else "array")
        out.append((f.name, kind, f.default))
    return Instance, tuple(out)


def draft_replace(inst, **changes) -> "Instance":
    """:func:`draft_instance` from ``inst``'s fields with some changed (no validation).

    ``inst`` (a draft or an instance) holds its fields converted already, so they are taken as
    they are (converting them again gives the same objects) and only the changed ones are
    converted; a name that is not a field is a ``TypeError``."""
    cls, spec = _instance_fields()
    kinds = _field_kinds()
    out = object.__new__(cls)
    d = out.__dict__
    src = inst.__dict__
    for name, _, _ in spec:
        d[name] = src[name]
    for name, v in changes.items():
        kind = kinds.get(name)
        if kind is None:
            raise TypeError(f"draft_replace: {name!r} is not a field of an instance")
        d[name] = _draft_value(kind, v)
    return out


@functools.lru_cache(maxsize=None)
def _field_kinds() -> dict:
    return {name: kind for name, kind, _ in _instance_fields()[1]}


def assemble(*, w_time, w_energy, w_tardiness, edge_speed, cloud_speed, edge_capacity,
             cloud_capacity, dev, job_device, job_ops, job_bits, deadline=None, weight=None,
             backhaul_rate, backhaul_latency, edge_energy_per_op=0.0, cloud_energy_per_op=0.0,
             backhaul_energy_per_bit=0.0):
    """A draft :class:`~offbench.instance.Instance` (:func:`draft_instance`: not validated here;
    the family validates it) from per-device dicts and per-job lists."""
    n_jobs = len(job_ops)
    lens = [len(o) for o in job_ops]
    offsets = np.zeros(n_jobs + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    return draft_instance(
        w_time=w_time, w_energy=w_energy, w_tardiness=w_tardiness,
        edge_speed=edge_speed, edge_energy_per_op=edge_energy_per_op, edge_capacity=edge_capacity,
        cloud_speed=cloud_speed, cloud_energy_per_op=cloud_energy_per_op,
        cloud_capacity=cloud_capacity,
        backhaul_rate=backhaul_rate, backhaul_latency=backhaul_latency,
        backhaul_energy_per_bit=backhaul_energy_per_bit,
        dev_speed=dev["speed"], dev_power_compute=dev["power_compute"], dev_power_tx=dev["power_tx"],
        dev_power_rx=dev["power_rx"], dev_rate_up=dev["rate_up"], dev_rate_down=dev["rate_down"],
        dev_latency=dev["latency"],
        job_device=np.asarray(job_device, dtype=np.int64), layer_offsets=offsets,
        ops=np.concatenate(job_ops), bits=np.concatenate(job_bits),
        deadline=np.full(n_jobs, np.inf) if deadline is None else np.asarray(deadline, dtype=np.float64),
        job_weight=np.ones(n_jobs) if weight is None else np.asarray(weight, dtype=np.float64),
    )


def network_devices(rng_choice: np.ndarray, networks: tuple[str, ...]) -> tuple[dict, np.ndarray]:
    """Per-device link fields and mean SNR for devices on the networks ``networks[k]``."""
    nets = [NETWORKS[networks[int(k)]] for k in rng_choice]
    dev = {
        "rate_up": np.array([n.rate_up for n in nets]),
        "rate_down": np.array([n.rate_down for n in nets]),
        "latency": np.array([n.latency for n in nets]),
        "power_tx": np.array([n.power_tx for n in nets]),
        "power_rx": np.array([n.power_rx for n in nets]),
    }
    snr = np.array([10.0 ** (n.snr_db / 10.0) for n in nets])
    return dev, snr
