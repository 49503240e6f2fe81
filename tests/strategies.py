"""Hypothesis strategies for instance files (as JSON objects) and decisions.

Capacities are drawn from the classes where exactness is at stake (issue 9), not only from a
range: none, 0 (the tier switched off), a fraction of the total ops, exactly the sum of a subset
of the ops (a load equal to the capacity), and a capacity below the smallest positive op; ops
include exact zeros, so 0-ops layers meet switched-off tiers.
"""

from __future__ import annotations

from hypothesis import strategies as st

# Magnitudes across the realistic range, with exact zeros where SPEC.md allows them.
nonneg = st.one_of(
    st.just(0.0),
    st.floats(min_value=1e-6, max_value=1e11, allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, 1e3, 1e6, 2.5e8, 1e10]),
)
positive = st.one_of(
    st.floats(min_value=1e3, max_value=1e13, allow_nan=False, allow_infinity=False),
    st.sampled_from([1e5, 1e8, 1e12]),
)
small = st.one_of(st.just(0.0), st.floats(min_value=1e-9, max_value=0.1, allow_nan=False))
# Coefficients: 0 or a value in SPEC.md's admissible range (no subnormal powers).
coef = st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=10.0, allow_nan=False))

#: The capacity classes of :func:`capacity`.
CAPACITY_KINDS = ("none", "zero", "fraction", "subset-sum", "below-smallest-op")
weight = st.one_of(st.just(0.0), st.just(1.0), st.floats(min_value=1e-6, max_value=10.0, allow_nan=False))


@st.composite
def devices(draw):
    return {
        "speed": draw(positive),
        "power_compute": draw(coef),
        "power_tx": draw(coef),
        "power_rx": draw(coef),
        "rate_up": draw(positive),
        "rate_down": draw(positive),
        "latency": draw(small),
    }


@st.composite
def capacity(draw, all_ops, kinds=CAPACITY_KINDS):
    """One capacity (None = unbounded) of a kind drawn from ``kinds`` (:data:`CAPACITY_KINDS`),
    for an instance whose layers have the ops ``all_ops``."""
    kind = draw(st.sampled_from(kinds))
    total = sum(all_ops)
    positive = [o for o in all_ops if o > 0]
    if kind == "none":
        return None
    if kind == "zero" or (kind == "below-smallest-op" and not positive):
        return 0.0
    if kind == "fraction":
        return draw(st.floats(0.0, 1.0)) * total
    if kind == "subset-sum":
        # summed in layer order, as the cost model sums a tier's load
        mask = draw(st.lists(st.booleans(), min_size=len(all_ops), max_size=len(all_ops)))
        acc = 0.0
        for o, m in zip(all_ops, mask):
            if m:
                acc += o
        return acc
    return min(positive) * draw(st.sampled_from([0.0, 0.5, 1.0 - 2.0 ** -30]))


@st.composite
def instance_dicts(draw, max_jobs=4, max_layers=5, capacities=None, deadlines=None,
                   capacity_kinds=CAPACITY_KINDS):
    n_dev = draw(st.integers(1, 3))
    n_jobs = draw(st.integers(1, max_jobs))
    jobs = []
    with_deadlines = draw(st.booleans()) if deadlines is None else deadlines
    for _ in range(n_jobs):
        L = draw(st.integers(1, max_layers))
        ops = draw(st.lists(nonneg, min_size=L, max_size=L))
        bits = draw(st.lists(nonneg, min_size=L + 1, max_size=L + 1))
        job = {"device": draw(st.integers(0, n_dev - 1)), "ops": ops, "bits": bits}
        if with_deadlines and draw(st.booleans()):
            job["deadline"] = draw(st.one_of(st.just(0.0), st.floats(0.0, 2.0)))
        if draw(st.booleans()):
            job["weight"] = draw(weight)
        jobs.append(job)
    with_caps = draw(st.booleans()) if capacities is None else capacities
    all_ops = [o for job in jobs for o in job["ops"]]

    def cap():
        if not with_caps:
            return None
        return draw(capacity(all_ops, capacity_kinds))

    return {
        "format": "offbench-instance",
        "version": 1,
        "name": "hyp",
        "weights": {"time": draw(weight), "energy": draw(weight),
                    "tardiness": draw(weight) if with_deadlines else 0.0},
        "edge": {"speed": draw(positive), "energy_per_op": draw(st.sampled_from([0.0, 1e-12, 1e-9])),
                 "capacity": cap()},
        "cloud": {"speed": draw(positive), "energy_per_op": draw(st.sampled_from([0.0, 1e-12, 1e-9])),
                  "capacity": cap()},
        "backhaul": {"rate": draw(positive), "latency": draw(small),
                     "energy_per_bit": draw(st.sampled_from([0.0, 1e-9, 1e-6]))},
        "devices": [draw(devices()) for _ in range(n_dev)],
        "jobs": jobs,
    }


def n_layers(d) -> int:
    return sum(len(j["ops"]) for j in d["jobs"])


@st.composite
def instance_and_decisions(draw, n_decisions=4, **kw):
    d = draw(instance_dicts(**kw))
    n = n_layers(d)
    xs = draw(st.lists(st.lists(st.integers(0, 2), min_size=n, max_size=n),
                       min_size=1, max_size=n_decisions))
    return d, xs
