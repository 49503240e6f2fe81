"""Hypothesis strategies for instance files (as JSON objects) and decisions."""

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
small = st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=0.1, allow_nan=False))
weight = st.one_of(st.just(0.0), st.just(1.0), st.floats(min_value=0.0, max_value=10.0, allow_nan=False))


@st.composite
def devices(draw):
    return {
        "speed": draw(positive),
        "power_compute": draw(st.floats(0.0, 10.0)),
        "power_tx": draw(st.floats(0.0, 5.0)),
        "power_rx": draw(st.floats(0.0, 5.0)),
        "rate_up": draw(positive),
        "rate_down": draw(positive),
        "latency": draw(small),
    }


@st.composite
def instance_dicts(draw, max_jobs=4, max_layers=5, capacities=None, deadlines=None):
    n_dev = draw(st.integers(1, 3))
    n_jobs = draw(st.integers(1, max_jobs))
    jobs = []
    total_ops = 0.0
    with_deadlines = draw(st.booleans()) if deadlines is None else deadlines
    for _ in range(n_jobs):
        L = draw(st.integers(1, max_layers))
        ops = draw(st.lists(nonneg, min_size=L, max_size=L))
        bits = draw(st.lists(nonneg, min_size=L + 1, max_size=L + 1))
        total_ops += sum(ops)
        job = {"device": draw(st.integers(0, n_dev - 1)), "ops": ops, "bits": bits}
        if with_deadlines and draw(st.booleans()):
            job["deadline"] = draw(st.one_of(st.just(0.0), st.floats(0.0, 2.0)))
        if draw(st.booleans()):
            job["weight"] = draw(weight)
        jobs.append(job)
    with_caps = draw(st.booleans()) if capacities is None else capacities

    def cap():
        if not with_caps:
            return None
        return draw(st.one_of(st.just(0.0), st.floats(0.0, 1.0).map(lambda f: f * total_ops)))

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
