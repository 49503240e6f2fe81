"""Shared pieces of the DAG families (``workflow``, ``zoo-v2``, ``dmro-v2``): random workflow DAGs in the
manner of daggen, and instances built through the version-2 dict form.

Instances of DAG families are built as SPEC.md section 7's JSON object and read with
:meth:`offbench.instance.Instance.from_dict` (so the family does not depend on the instance's
in-memory layout of edges); chain jobs in such an object keep their version-1 form.

**daggen.** :func:`daggen_dag` follows the layered algorithm of daggen (F. Suter,
https://github.com/frs69wq/daggen), the generator behind MRLCO's data set (Wang et al., IEEE
TPDS 2021: ``daggen --dot -n 20 --ccr ... --fat ... --regular 0.5 --density ...
--mindata 5242880 --maxdata 52428800``, in github.com/linkpark/metarl-offloading,
``env/mec_offloaing_envs/data``). Tasks are laid out in levels: each level's width is
``n ** fat`` (so ``fat`` near 1 gives a wide, shallow DAG, near 0 a chain) times a factor uniform
in ``[1 - (1 - regular), 1 + (1 - regular)]`` (at least 1, and no more than the tasks left);
every task of a level after the first gets ``1 + U{0, floor(density * width of the level
before)}`` parents (at most that width) drawn without replacement from the level before (daggen's
``jump = 1``). Tasks are numbered level by level, a topological order.
"""

from __future__ import annotations

import math

import numpy as np

from .._instance_json import FORMAT

#: Bytes in daggen's and MRLCO's "MB" (their --mindata 5242880 is 5 MiB).
MIB = 1024 * 1024


def daggen_dag(rng: np.random.Generator, n: int, fat: float, density: float,
               regular: float = 0.5) -> list[tuple[int, int]]:
    """A random layered DAG of ``n`` tasks (see the module docstring).

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
        Tasks, at least 1.
    fat : float
        Width: a level holds about ``n ** fat`` tasks.
    density : float
        Share of the previous level a task may depend on.
    regular : float
        Regularity of the level widths, in [0, 1] (1: every level the same width).

    Returns
    -------
    list of (int, int)
        Edges ``(u, v)``, 0-based, ``u < v``, sorted.
    """
    perfect = max(1, int(math.exp(fat * math.log(n))))
    levels: list[list[int]] = []
    placed = 0
    while placed < n:
        spread = 1.0 - regular
        width = int(round(perfect * (1.0 + spread * (2.0 * rng.random() - 1.0))))
        width = max(1, min(width, n - placed))
        levels.append(list(range(placed, placed + width)))
        placed += width
    edges = []
    for before, level in zip(levels, levels[1:]):
        for v in level:
            k = 1 + int(rng.integers(0, int(density * len(before)) + 1))
            k = min(k, len(before))
            parents = rng.choice(before, size=k, replace=False)
            edges.extend((int(u), v) for u in parents)
    return sorted(edges)


def dag_instance(*, w_time, w_energy, edge_speed, cloud_speed, backhaul_rate, backhaul_latency,
                 dev: dict, jobs: list[dict], w_tardiness: float = 0.0,
                 edge_capacity: float | None = None, cloud_capacity: float | None = None):
    """An :class:`~offbench.instance.Instance` from per-device arrays and version-2 job dicts.

    Parameters
    ----------
    dev : dict
        ``speed``, ``power_compute``, ``power_tx``, ``power_rx``, ``rate_up``, ``rate_down``,
        ``latency``: one value per device.
    jobs : list of dict
        SPEC.md section 7 jobs (``{"device", "ops", "edges", "in_bits", "out_bits", ...}``) or
        version-1 ones (``{"device", "ops", "bits", ...}``).
    """
    from ..instance import Instance

    nd = len(dev["speed"])
    keys = ("speed", "power_compute", "power_tx", "power_rx", "rate_up", "rate_down", "latency")
    data = {
        "format": FORMAT,
        "version": 2,
        "name": "",
        "weights": {"time": float(w_time), "energy": float(w_energy),
                    "tardiness": float(w_tardiness)},
        "edge": {"speed": float(edge_speed), "energy_per_op": 0.0, "capacity": edge_capacity},
        "cloud": {"speed": float(cloud_speed), "energy_per_op": 0.0, "capacity": cloud_capacity},
        "backhaul": {"rate": float(backhaul_rate), "latency": float(backhaul_latency),
                     "energy_per_bit": 0.0},
        "devices": [{k: float(dev[k][d]) for k in keys} for d in range(nd)],
        "jobs": jobs,
    }
    return Instance.from_dict(data)


def dag_capacities(p, jobs: list[dict], u_cap: np.ndarray) -> dict:
    """The ``edge_capacity``/``cloud_capacity`` keywords of :func:`dag_instance` (none unless
    ``p["capacities"]``): each tier's ``[lo, hi]`` fraction of the jobs' total FLOPs, placed at
    ``u_cap[0]`` (edge) and ``u_cap[1]`` (cloud) in that range."""
    capacity = {}
    if p["capacities"]:
        total = float(sum(sum(job["ops"]) for job in jobs))
        for tier, u in (("edge", u_cap[0]), ("cloud", u_cap[1])):
            lo, hi = p[f"{tier}_capacity"]
            capacity[f"{tier}_capacity"] = total * (lo + (hi - lo) * float(u))
    return capacity
