"""The ranges that families' documentation states, measured on the instances they publish.

Run:  python benchmarks/scripts/family_ranges.py [--members 2000] [--seed 0] [--only deadline-v1]

A family draws a *scenario* (a nominal instance: deadlines, capacities and task sizes are set on
it) and publishes one frame of it (``Family.generate``: Rayleigh fading, task sizes times a
factor of ``work_scale``, the input times one of ``input_scale``, background loads;
:mod:`offbench.streams`). So a deadline set to 0.5..1.2 times a job's best single-tier time in the
nominal scenario is some other multiple of the published frame's best single-tier time, a
capacity set to a fraction of the nominal FLOPs is another fraction of the frame's FLOPs, and a
workflow whose operations move with ``work_scale`` while its per-edge messages do not has another
communication-to-computation ratio. This script prints, per documented range, what members
``0 .. members-1`` of ``--seed`` publish: min, 5th, 50th and 95th percentile and max of the
values (pooled over jobs, tasks or tiers, as the quantity says), and the share outside the
nominal range. The families' docs (``instances/*.toml``) quote these numbers at 2,000 members,
seed 0; ``tests/test_family_ranges.py`` checks them on a few hundred.

Written by hand: the quantities are offbench's own (its cost model's best single-tier time, its
instance arrays); numpy does the percentiles.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from offbench.families import get_family  # noqa: E402
from offbench.families._fleet import best_single_tier_times  # noqa: E402


def tightness(inst, p) -> np.ndarray:
    """Per job with a deadline: deadline / the published frame's best single-tier time."""
    best = best_single_tier_times(inst)
    d = np.asarray(inst.deadline, dtype=float)
    ok = np.isfinite(d)
    return d[ok] / best[ok]


def capacity_fraction(inst, p) -> np.ndarray:
    """The edge's and the cloud's capacity over the published frame's total FLOPs."""
    total = float(np.sum(inst.ops))
    return np.array([inst.edge_capacity / total, inst.cloud_capacity / total])


def job_ccr(inst, p) -> np.ndarray:
    """Per workflow with edges: (its messages' bits / ref_rate) / (its FLOPs / ref_speed), the
    ratio workflow-v1 and dmro-v2 set on the nominal scenario."""
    out = []
    for i in range(inst.n_jobs):
        e0, e1 = int(inst.edge_offsets[i]), int(inst.edge_offsets[i + 1])
        if e1 == e0:
            continue
        ops = float(np.sum(inst.ops[inst.layer_offsets[i]:inst.layer_offsets[i + 1]]))
        out.append((float(np.sum(inst.edge_bits[e0:e1])) / p["ref_rate"]) / (ops / p["ref_speed"]))
    return np.array(out)


def task_ccr(inst, p) -> np.ndarray:
    """Per edge: (its message / ref_process_rate) / (its sender's FLOPs / ref_speed), the
    ratio workflow-v2 and dmro-v3 set per task on the nominal scenario."""
    out = []
    for i in range(inst.n_jobs):
        e0, e1 = int(inst.edge_offsets[i]), int(inst.edge_offsets[i + 1])
        ops = inst.ops[inst.layer_offsets[i]:inst.layer_offsets[i + 1]]
        src = inst.edge_src[e0:e1]
        out.append((inst.edge_bits[e0:e1] / p["ref_process_rate"]) / (ops[src] / p["ref_speed"]))
    return np.concatenate(out) if out else np.array([])


def input_mib(inst, p) -> np.ndarray:
    """Each job's input, MiB (the bits at its input boundary)."""
    first = np.asarray(inst.layer_offsets[:-1]) + np.arange(inst.n_jobs)
    return np.asarray(inst.bits)[first] / (8.0 * 2**20)


def result_mib(inst, p) -> np.ndarray:
    """Each exit task's result returned to the device, MiB (the non-zero outputs of a
    workflow: its other tasks' outputs travel as per-edge messages)."""
    bits = np.asarray(inst.bits)
    out = []
    for i in range(inst.n_jobs):
        a = int(inst.layer_offsets[i]) + i + 1
        b = int(inst.layer_offsets[i + 1]) + i + 1
        out.append(bits[a:b][bits[a:b] > 0])
    return np.concatenate(out) / (8.0 * 2**20)


def message_mib(inst, p) -> np.ndarray:
    """Each edge's message, MiB."""
    return np.asarray(inst.edge_bits) / (8.0 * 2**20)


@dataclass(frozen=True)
class Check:
    """One documented range: the family ID, what is measured, the nominal range the generator
    draws it from, and an environment (named, drawn through its parameter overrides: static
    members are drawn in the default environment)."""

    family: str
    what: str
    measure: Callable
    nominal: tuple[float, float]
    env: str = ""
    overrides: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.family}{' (' + self.env + ')' if self.env else ''}: {self.what}"


CHECKS = (
    Check("deadline-v1:small", "deadline / best single-tier time", tightness, (0.5, 1.2)),
    Check("deadline-v1:small", "deadline / best single-tier time", tightness, (0.3, 0.8),
          "tight", {"tightness": [0.3, 0.8]}),
    Check("deadline-v1:medium", "deadline / best single-tier time", tightness, (0.5, 1.2)),
    Check("zoo-v2:deadline", "deadline / best single-tier time", tightness, (0.5, 1.2)),
    Check("capacitated-v1:small", "capacity / FLOPs", capacity_fraction, (0.1, 0.3)),
    Check("capacitated-v1:small", "capacity / FLOPs", capacity_fraction, (0.03, 0.1),
          "congested", {"edge_capacity": [0.03, 0.1], "cloud_capacity": [0.03, 0.1]}),
    Check("capacitated-v1:medium", "capacity / FLOPs", capacity_fraction, (0.1, 0.3)),
    Check("zoo-v2:capacitated", "capacity / FLOPs", capacity_fraction, (0.1, 0.3)),
    Check("scale-v1:n10", "capacity / FLOPs", capacity_fraction, (0.2, 0.2)),
    Check("scale-v1:n100", "capacity / FLOPs", capacity_fraction, (0.2, 0.2)),
    Check("workflow-v1:single", "ccr per workflow", job_ccr, (0.3, 0.5)),
    Check("workflow-v1:single", "message MiB", message_mib, (5.0, 50.0)),
    Check("workflow-v1:single", "input MiB", input_mib, (5.0, 50.0)),
    Check("workflow-v1:single", "result MiB", result_mib, (5.0, 50.0)),
    Check("workflow-v1:fleet", "capacity / FLOPs", capacity_fraction, (0.2, 0.4)),
    Check("workflow-v2:single", "ccr per task", task_ccr, (0.3, 0.5)),
    Check("workflow-v2:fleet", "capacity / FLOPs", capacity_fraction, (0.2, 0.4)),
    Check("dmro-v2", "ccr per workflow", job_ccr, (0.3, 0.5)),
    Check("dmro-v3", "ccr per task", task_ccr, (0.3, 0.5)),
)


def measure(check: Check, members: int, seed: int = 0, chunk: int = 100) -> np.ndarray:
    """The values of ``check`` over members ``0 .. members-1`` of ``seed``, pooled."""
    fam = get_family(check.family, **check.overrides)
    p = fam.params_for()
    vals = []
    for start in range(0, members, chunk):
        for inst in fam.generate_many(seed, range(start, min(members, start + chunk))):
            vals.append(np.asarray(check.measure(inst, p), dtype=float))
    return np.concatenate(vals)


def summary(values: np.ndarray, nominal: tuple[float, float]) -> dict:
    """min, p5, p50, p95, max and the share outside ``nominal`` (relative slack 1e-6: the
    published numbers are rounded to 9 significant digits)."""
    q = np.percentile(values, [0, 5, 50, 95, 100])
    lo, hi = nominal
    out = (values < lo * (1 - 1e-6)) | (values > hi * (1 + 1e-6))
    return {"n": int(values.size), "min": q[0], "p5": q[1], "p50": q[2], "p95": q[3], "max": q[4],
            "outside": float(np.mean(out))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="", help="only the checks whose family ID starts with this")
    a = ap.parse_args(argv)
    print(f"{'range':52s} {'nominal':>13s} {'n':>6s} {'min':>7s} {'p5':>7s} {'p50':>7s} "
          f"{'p95':>7s} {'max':>7s} outside")
    for c in CHECKS:
        if not c.family.startswith(a.only):
            continue
        t = time.perf_counter()
        s = summary(measure(c, a.members, a.seed), c.nominal)
        nom = f"{c.nominal[0]:g}..{c.nominal[1]:g}"
        print(f"{c.name:52s} {nom:>13s} {s['n']:6d} {s['min']:7.3f} {s['p5']:7.3f} "
              f"{s['p50']:7.3f} {s['p95']:7.3f} {s['max']:7.3f} {100 * s['outside']:5.1f}%"
              f"  ({time.perf_counter() - t:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
