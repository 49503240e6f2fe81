"""A seeded random instance generator for tests and benchmarks.

:func:`random_instance` draws instances over the whole space that SPEC.md allows, on realistic
scales (ops 1e5..1e10, bits 1e2..1e8, rates 1e5..1e9 bit/s), with switches for capacities and
deadlines and with zero-ops and zero-bits layers mixed in. It is not a benchmark family: the
instance families of :mod:`offbench.families` model the literature's settings. The same arguments
and seed give the same instance (the same digest) on every machine.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .instance import Instance, check_size

#: The tag that leads a seed's long form (``"rndm"``): :func:`seed_stream`.
_LONG_SEED_TAG = 0x726E646D
#: The stream numbers of :func:`seed_stream`: the instance itself, and the wiring that
#: :func:`offbench.dag.random_dag_instance` draws after it.
STREAM_INSTANCE, STREAM_WIRING = 0, 15


def seed_stream(seed: int, stream: int = STREAM_INSTANCE) -> np.random.Generator:
    """The generator of stream ``stream`` of seed ``seed`` (``random_instance`` draws stream
    0, ``random_dag_instance`` its wiring from stream 15).

    Below ``2**32`` these are the streams they always were: ``default_rng(seed)`` and
    ``default_rng([seed, 15])``. Those two forms run the values' 32-bit words together, and
    SeedSequence pads a list shorter than its 4-word pool with zeros, so seed ``s + 15 * 2**32``
    (words ``s, 15``) drew its instance from seed ``s``'s wiring: two instances from one
    stream. So a seed of ``2**32`` or more is written as a tag, its number of words, its words,
    then the stream: at least 5 words, longer than the pool, so it meets neither short form nor
    another long one. A negative seed is refused by SeedSequence, as before."""
    seed = int(seed)
    if 0 <= seed < 4294967296 or seed < 0:
        return np.random.default_rng(seed if stream == STREAM_INSTANCE else [seed, stream])
    from .families.family import entropy_words

    s = entropy_words((seed,))
    return np.random.default_rng(np.random.SeedSequence(
        np.concatenate(([_LONG_SEED_TAG, s.size], s, [stream])).astype(np.uint32)))


def _loguniform(rng: np.random.Generator, lo: float, hi: float, size=None):
    """Log-uniform draws, exponentiated by the C library (``math.exp``), not ``np.exp``.

    numpy's ``exp`` and ``log`` take a vectorized AVX-512 path on CPUs that have it and the C
    library's elsewhere; the two differ in the last bit on some inputs, and these values are
    not quantized, so ``np.exp`` made a seed's instance (and its digest) depend on the CPU: the
    milp-scale manifest and the streaming-run fingerprint, written on an AVX-512 machine,
    failed on one without it. ``math.exp``/``math.log`` give the same bits on both (on the CPU
    without AVX-512 they equal numpy's: 10^6 draws compared)."""
    u = rng.uniform(math.log(lo), math.log(hi), size)
    if size is None:
        return math.exp(u)
    return np.fromiter((math.exp(v) for v in u), dtype=np.float64, count=len(u))


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def _whole(name: str, v, low: int) -> int:
    """``v`` as an int, refused (naming ``name``) unless it is an integer ``>= low``."""
    if not _is_int(v) or v < low:
        raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
    return int(v)


def random_instance(
    seed: int,
    *,
    n_devices: int = 3,
    n_jobs: int = 4,
    layers: tuple[int, int] = (1, 6),
    capacities: bool = False,
    deadlines: bool = False,
    zero_fraction: float = 0.1,
    energy_weight: float | None = None,
    edge_capacity: float | None = None,
    cloud_capacity: float | None = None,
    name: str | None = None,
) -> Instance:
    """Draw one random instance.

    Parameters
    ----------
    seed : int
        The only source of randomness.
    n_devices, n_jobs : int
        Sizes (each job picks a device at random).
    layers : (int, int)
        Inclusive range of layers per job.
    capacities : bool
        Give the edge and cloud capacities between 10% and 70% of the total ops, so that jobs
        compete (with ``False`` both are unbounded).
    deadlines : bool
        Give each job a deadline between 0.2 and 1.2 times its all-device time (some jobs none)
        and a tardiness weight.
    zero_fraction : float
        Probability that a layer's ops, or a boundary's bits, is exactly zero.
    energy_weight : float, optional
        ``weights.energy``; drawn when None.
    edge_capacity, cloud_capacity : float, optional
        Set that capacity (ops; ``0`` switches the tier off, ``inf`` leaves it unbounded)
        after everything else is drawn, so the rest of the instance is the one drawn without
        it.
    name : str, optional
        Defaults to ``random-<seed>``.
    """
    # a float or a string is refused, not truncated: seed 1.5 drew seed 1's instance
    seed = _whole("seed", seed, 0)
    if not (isinstance(layers, tuple) and len(layers) == 2 and all(map(_is_int, layers))
            and 1 <= layers[0] <= layers[1]):
        raise ValueError(f"layers must be (lo, hi), ints with 1 <= lo <= hi, got {layers!r}")
    layers = (int(layers[0]), int(layers[1]))
    n_devices = _whole("n_devices", n_devices, 1)
    n_jobs = _whole("n_jobs", n_jobs, 1)
    if (isinstance(zero_fraction, bool) or not isinstance(zero_fraction, numbers.Real)
            or not 0.0 <= zero_fraction <= 1.0):
        raise ValueError(f"zero_fraction must be in [0, 1], got {zero_fraction!r}")
    check_size(n_devices=n_devices, n_jobs=n_jobs, layers_per_job=layers[1],
               n_layers=n_jobs * layers[0], where="random instance")  # before anything is drawn
    rng = seed_stream(seed)
    nd = n_devices
    dev = dict(
        dev_speed=_loguniform(rng, 1e8, 2e10, nd),
        dev_power_compute=rng.uniform(0.5, 5.0, nd),
        dev_power_tx=rng.uniform(0.1, 2.0, nd),
        dev_power_rx=rng.uniform(0.05, 1.0, nd),
        dev_rate_up=_loguniform(rng, 1e5, 1e8, nd),
        dev_rate_down=_loguniform(rng, 5e5, 5e8, nd),
        dev_latency=rng.uniform(0.0, 0.03, nd),
    )
    L = rng.integers(layers[0], layers[1] + 1, n_jobs)
    offsets = np.concatenate([[0], np.cumsum(L)]).astype(np.int64)
    ops = _loguniform(rng, 1e5, 1e10, int(L.sum()))
    ops[rng.random(ops.size) < zero_fraction] = 0.0
    bits = _loguniform(rng, 1e2, 1e8, int(L.sum()) + n_jobs)
    bits[rng.random(bits.size) < zero_fraction] = 0.0
    job_device = rng.integers(0, nd, n_jobs)
    weight = rng.choice([0.5, 1.0, 1.0, 2.0], n_jobs)
    edge_speed = float(_loguniform(rng, 5e10, 2e12))
    cloud_speed = float(_loguniform(rng, 5e11, 2e13))
    total = float(ops.sum())
    edge_cap = float(total * rng.uniform(0.1, 0.7)) if capacities else np.inf
    cloud_cap = float(total * rng.uniform(0.1, 0.7)) if capacities else np.inf
    if edge_capacity is not None:
        edge_cap = float(edge_capacity)
    if cloud_capacity is not None:
        cloud_cap = float(cloud_capacity)
    if deadlines:
        local_time = np.add.reduceat(ops / dev["dev_speed"][np.repeat(job_device, L)], offsets[:-1])
        deadline = local_time * rng.uniform(0.2, 1.2, n_jobs) + rng.uniform(0.0, 0.05, n_jobs)
        deadline[rng.random(n_jobs) < 0.2] = np.inf
        w_tard = float(rng.uniform(1.0, 20.0))
    else:
        deadline = np.full(n_jobs, np.inf)
        w_tard = 0.0
    return Instance(
        w_time=1.0,
        w_energy=float(rng.uniform(0.0, 1.0)) if energy_weight is None else float(energy_weight),
        w_tardiness=w_tard,
        edge_speed=edge_speed,
        edge_energy_per_op=float(rng.choice([0.0, 1e-11])),
        edge_capacity=edge_cap,
        cloud_speed=cloud_speed,
        cloud_energy_per_op=float(rng.choice([0.0, 1e-12])),
        cloud_capacity=cloud_cap,
        backhaul_rate=float(_loguniform(rng, 1e7, 1e10)),
        backhaul_latency=float(rng.uniform(0.0, 0.05)),
        backhaul_energy_per_bit=float(rng.choice([0.0, 1e-9])),
        job_device=job_device,
        layer_offsets=offsets,
        ops=ops,
        bits=bits,
        deadline=deadline,
        job_weight=weight,
        name=name if name is not None else f"random-{seed}",
        **dev,
    )
