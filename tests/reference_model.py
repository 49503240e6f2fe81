"""A plain-Python reference of SPEC.md section 2, written from the spec alone.

Loops and ifs over the instance file's JSON object (not offbench's arrays or tables), so that it
shares nothing with offbench.cost but the spec. The kernels are tested against it.
"""

from __future__ import annotations

import math

# (from, to) -> the hops of the path (SPEC.md section 2).
PATHS = {
    (0, 1): ["up"],
    (1, 0): ["down"],
    (1, 2): ["backhaul"],
    (2, 1): ["backhaul"],
    (0, 2): ["up", "backhaul"],
    (2, 0): ["backhaul", "down"],
}


def compute(d, device, tier, c):
    """Time and energy of c ops on a tier."""
    if tier == 0:
        t = c / device["speed"]
        return t, device["power_compute"] * c / device["speed"]
    if tier == 1:
        return c / d["edge"]["speed"], d["edge"]["energy_per_op"] * c
    if tier == 2:
        return c / d["cloud"]["speed"], d["cloud"]["energy_per_op"] * c
    raise ValueError(tier)


def hop(d, device, name, b):
    if name == "up":
        return b / device["rate_up"] + device["latency"], device["power_tx"] * b / device["rate_up"]
    if name == "down":
        return b / device["rate_down"] + device["latency"], device["power_rx"] * b / device["rate_down"]
    if name == "backhaul":
        bh = d["backhaul"]
        return b / bh["rate"] + bh["latency"], bh["energy_per_bit"] * b
    raise ValueError(name)


def transfer(d, device, a, z, b):
    if a == z:
        return 0.0, 0.0
    t = e = 0.0
    for name in PATHS[(a, z)]:
        ht, he = hop(d, device, name, b)
        t += ht
        e += he
    return t, e


def evaluate(d, decision):
    """Returns {"cost", "feasible", "load": {"edge", "cloud"}, "jobs": [...]} like SPEC.md §5."""
    w = d["weights"]
    wt, we, wu = w["time"], w["energy"], w.get("tardiness", 0.0)
    pos = 0
    jobs = []
    load = {1: 0.0, 2: 0.0}
    total = 0.0
    for job in d["jobs"]:
        device = d["devices"][job["device"]]
        ops, bits = job["ops"], job["bits"]
        L = len(ops)
        x = [0] + list(decision[pos:pos + L]) + [0]
        pos += L
        T = E = 0.0
        for j in range(1, L + 1):
            t, e = compute(d, device, x[j], ops[j - 1])
            T += t
            E += e
            if x[j] in load:
                load[x[j]] += ops[j - 1]
        for j in range(0, L + 1):
            t, e = transfer(d, device, x[j], x[j + 1], bits[j])
            T += t
            E += e
        deadline = job.get("deadline")
        U = max(0.0, T - deadline) if deadline is not None else 0.0
        weight = job.get("weight", 1.0)
        cost = weight * (wt * T + we * E + wu * U)
        total += cost
        jobs.append({"time": T, "energy": E, "tardiness": U, "cost": cost})
    assert pos == len(decision)

    def fits(load_, cap):
        return cap is None or load_ <= cap * (1 + 1e-9)

    feasible = fits(load[1], d["edge"].get("capacity")) and fits(load[2], d["cloud"].get("capacity"))
    return {"cost": total, "feasible": feasible, "load": {"edge": load[1], "cloud": load[2]}, "jobs": jobs}


def close(a, b, rel=1e-12, abs_=0.0):
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)
