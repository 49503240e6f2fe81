"""The agreement battery (issue 9): every exact solver, lp-bound's bound and every heuristic's
feasibility claim against plain enumeration, on the capacity classes where exactness is at stake.

The classes (SPEC.md section 2: a capacity of 0 switches a tier off, a load equal to the capacity
is feasible, relative tolerance 1e-9): capacity 0 on the edge, the cloud or both; a capacity equal
to the sum of a subset of the ops (summed in layer order, as the load is); a capacity below the
smallest positive op; 0-ops layers with a switched-off tier. The truth is plain enumeration of
every placement through the plain-Python model of SPEC.md (``tests/reference_model.py``), which
shares nothing with offbench's kernels.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from offbench.cost import evaluate
from offbench.generators import random_instance
from offbench.instance import Instance
from offbench.discovery import resolve

from . import reference_model as ref
from .strategies import instance_dicts, n_layers

CLASSES = ("edge-off", "cloud-off", "both-off", "subset-sum", "below-smallest-op", "zero-ops-off")
HEURISTICS = ("all-device", "all-edge", "all-cloud", "random", "greedy", "neurosurgeon",
              "local-search")
#: (backend, formulation) pairs of milp: every back end, every formulation (CP-SAT takes paths).
MILP_CONFIGS = tuple((b, f) for b in ("highs", "highspy", "scip", "cbc", "cp-sat")
                     for f in ("paths", "transitions", "linked")
                     if not (b == "cp-sat" and f != "paths"))
RTOL = 1e-9


def _layer_order_sum(values) -> float:
    acc = 0.0
    for v in values:
        acc += float(v)
    return acc


def class_instance(kind: str, seed: int, *, deadlines: bool, n_jobs: int = 2,
                   layers=(2, 3)) -> Instance:
    """A small random instance of capacity class ``kind`` (see :data:`CLASSES`)."""
    inst = random_instance(seed, n_devices=2, n_jobs=n_jobs, layers=layers, deadlines=deadlines,
                           zero_fraction=0.3 if kind == "zero-ops-off" else 0.1,
                           name=f"{kind}-{seed}")
    rng = np.random.default_rng(seed)
    ops = np.array(inst.ops, dtype=float)
    if kind == "zero-ops-off":
        ops[rng.random(ops.size) < 0.4] = 0.0
        ops[0] = 0.0
        inst = inst.replace(ops=ops)
    positive = ops[ops > 0]
    total = _layer_order_sum(ops)
    inf = float("inf")
    if kind == "edge-off":
        return inst.replace(edge_capacity=0.0, cloud_capacity=inf)
    if kind == "cloud-off":
        return inst.replace(edge_capacity=inf, cloud_capacity=0.0)
    if kind == "both-off":
        return inst.replace(edge_capacity=0.0, cloud_capacity=0.0)
    if kind == "subset-sum":
        caps = [_layer_order_sum(ops[rng.random(ops.size) < 0.5]) for _ in range(2)]
        return inst.replace(edge_capacity=caps[0], cloud_capacity=caps[1])
    if kind == "below-smallest-op":
        small = float(positive.min()) if positive.size else 0.0
        return inst.replace(edge_capacity=0.5 * small, cloud_capacity=small * (1 - 2.0 ** -30))
    if kind == "zero-ops-off":
        return inst.replace(edge_capacity=0.5 * total, cloud_capacity=0.0)
    raise ValueError(kind)


def plain_optimum(inst: Instance):
    """``(cost, decision)``: the least cost over every feasible placement, by the plain model."""
    d = json.loads(inst.to_json())
    best, best_x = float("inf"), None
    for x in itertools.product(range(3), repeat=inst.n_layers):
        r = ref.evaluate(d, x)
        if r["feasible"] and r["cost"] < best:
            best, best_x = r["cost"], x
    return best, best_x


def close(a, b):
    return abs(a - b) <= RTOL * max(abs(a), abs(b)) + 1e-300


def plain_feasible(inst, x) -> bool:
    return ref.evaluate(json.loads(inst.to_json()), [int(v) for v in x])["feasible"]


def check_instance(inst: Instance, *, milp_configs=MILP_CONFIGS, lp=True) -> None:
    opt, _ = plain_optimum(inst)
    ex = resolve("exhaustive")().solve(inst)
    assert ex.status == "optimal" and close(ex.cost, opt), (inst.name, ex.cost, opt)
    assert plain_feasible(inst, ex.decision)
    dp = resolve("dp")().solve(inst)
    if dp.status == "optimal":
        assert close(dp.cost, opt) and plain_feasible(inst, dp.decision), (inst.name, dp.cost, opt)
    else:
        assert dp.status == "error" and "capacities" in dp.error, (inst.name, dp.error)
    milp = resolve("milp")
    for backend, formulation in milp_configs:
        r = milp(backend=backend, formulation=formulation).solve(inst, seed=0)
        assert r.status == "optimal", (inst.name, backend, formulation, r.error, r.info)
        assert close(r.cost, opt) or abs(r.cost - opt) <= 1e-6 * abs(opt), \
            (inst.name, backend, formulation, r.cost, opt)
        assert plain_feasible(inst, r.decision), (inst.name, backend, formulation)
    if lp:
        for formulation in ("paths", "transitions"):
            r = resolve("lp-bound")(formulation=formulation).solve(inst)
            assert r.status in ("feasible", "optimal"), (inst.name, formulation, r.error)
            assert r.bound <= opt * (1 + 1e-9) + 1e-12, (inst.name, formulation, r.bound, opt)
            assert plain_feasible(inst, r.decision)
    for name in HEURISTICS:
        r = resolve(name)().solve(inst, seed=1)
        assert r.status != "error", (inst.name, name, r.error)
        assert r.feasible and plain_feasible(inst, r.decision), (inst.name, name)
        assert r.cost >= opt * (1 - 1e-9) - 1e-300, (inst.name, name, r.cost, opt)


@pytest.mark.parametrize("kind", CLASSES)
@pytest.mark.parametrize("deadlines", [False, True])
def test_capacity_classes_agree_with_plain_enumeration(kind, deadlines):
    check_instance(class_instance(kind, 7, deadlines=deadlines))


@pytest.mark.parametrize("seed", range(10))
def test_switched_off_cloud_regression_every_exact_solver(seed):
    # The case of issue 9: 2 jobs x 4 layers, cloud capacity 0, edge uncapacitated, half with
    # deadlines; exhaustive used to answer "optimal" up to 30 % too high on about 4 in 10.
    inst = random_instance(seed, n_devices=2, n_jobs=2, layers=(4, 4), deadlines=seed % 2 == 0,
                           cloud_capacity=0.0)
    opt, _ = plain_optimum(inst)
    for name in ("exhaustive", "dp", "milp"):
        r = resolve(name)().solve(inst)
        if name == "dp" and r.status == "error":
            assert "capacities" in r.error      # refused: the per-job optima use the cloud
            continue
        assert r.status == "optimal" and close(r.cost, opt), (seed, name, r.cost, opt)


def test_a_load_equal_to_the_capacity_is_feasible_and_one_op_more_is_not():
    inst = class_instance("subset-sum", 3, deadlines=False)
    ops = np.asarray(inst.ops)
    x = np.zeros(inst.n_layers, dtype=np.int8)
    order = np.argsort(-ops)
    acc = 0.0
    for l in sorted(order[:2]):
        x[l] = 1
        acc += float(ops[l])
    on = inst.replace(edge_capacity=acc, cloud_capacity=0.0)
    assert evaluate(on, x).feasible and plain_feasible(on, x)
    over = inst.replace(edge_capacity=acc * (1 - 2e-9), cloud_capacity=0.0)
    assert not evaluate(over, x).feasible and not plain_feasible(over, x)
    y = x.copy()
    y[y == 1] = 2
    assert not evaluate(on, y).feasible                   # the cloud is off


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=instance_dicts(max_jobs=2, max_layers=3, capacities=True))
def test_hypothesis_capacity_classes_exhaustive_dp_heuristics(d):
    inst = Instance.from_json(json.dumps(d))
    opt, _ = plain_optimum(inst)
    ex = resolve("exhaustive")().solve(inst)
    assert ex.status == "optimal" and close(ex.cost, opt)
    dp = resolve("dp")().solve(inst)
    assert dp.status == "error" or close(dp.cost, opt)
    for name in HEURISTICS:
        r = resolve(name)().solve(inst, seed=0)
        assert r.status != "error" and r.feasible and plain_feasible(inst, r.decision), name
    assert n_layers(d) == inst.n_layers


@pytest.mark.slow
@pytest.mark.parametrize("kind", CLASSES)
def test_capacity_classes_sweep(kind):
    for seed in range(8):
        check_instance(class_instance(kind, 100 + seed, deadlines=seed % 2 == 1, n_jobs=2,
                                      layers=(2, 4)))


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=instance_dicts(max_jobs=3, max_layers=3, capacities=True))
def test_hypothesis_capacity_classes_every_solver(d):
    check_instance(Instance.from_json(json.dumps(d)), milp_configs=(("highs", "paths"),
                                                                    ("highs", "transitions")))


# ------------------------------------------------------------------------------ extreme magnitudes
def _one_device(**over):
    d = {"format": "offbench-instance", "version": 1, "name": "extreme",
         "weights": {"time": 0.0, "energy": 0.0, "tardiness": 0.0},
         "edge": {"speed": 1000.0, "energy_per_op": 0.0, "capacity": None},
         "cloud": {"speed": 1000.0, "energy_per_op": 0.0, "capacity": None},
         "backhaul": {"rate": 1000.0, "latency": 0.0, "energy_per_bit": 0.0},
         "devices": [{"speed": 1000.0, "power_compute": 0.0, "power_tx": 0.0, "power_rx": 0.0,
                      "rate_up": 1000.0, "rate_down": 1000.0, "latency": 0.0}]}
    for key, value in over.items():
        if isinstance(value, dict) and key in d:
            d[key] = {**d[key], **value}
        else:
            d[key] = value
    return Instance.from_dict(d)


#: The three examples the slow hypothesis battery (test_hypothesis_capacity_classes_every_solver)
#: found, each an ``error`` where an answer was due, kept here so that CI holds them:
EXTREMES = {
    # a cloud capacity of 1.5e-275 under a 1-op layer: the transition model's capacity row had
    # a coefficient of 6.6e274 and OR-Tools' HiGHS refused the model (MODEL_INVALID)
    "tiny-capacity": dict(cloud={"capacity": 1.5116745433231845e-275},
                          jobs=[{"device": 0, "ops": [1.0], "bits": [0.0, 0.0]}]),
    # a deadline of 0, the result 5,000 s from home on the edge, the best decision 1e-5 s tardy:
    # the tardiness (in units of the 5,000 s longest time) was inside HiGHS's row tolerance,
    # so the transition model's objective was 0 for a cost of 1e-5
    "tardy-by-1e-5": dict(weights={"tardiness": 1.0}, cloud={"speed": 1e8},
                          jobs=[{"device": 0, "ops": [0.0, 1000.0, 0.0],
                                 "bits": [0.0, 0.0, 0.0, 4999500.0], "deadline": 0.0},
                                {"device": 0, "ops": [0.0], "bits": [0.0, 0.0]}]),
    # a result of 5.3e10 bits against an all-device cost of 1e-12: costs of 1e20 objective
    # units in lp-bound's transition LP, which HiGHS takes for infinite (no solution)
    "cost-1e20-units": dict(weights={"time": 1.0},
                            devices=[{"speed": 950134.0, "power_compute": 0.0, "power_tx": 0.0,
                                      "power_rx": 0.0, "rate_up": 1000.0, "rate_down": 1000.0,
                                      "latency": 0.0}],
                            jobs=[{"device": 0, "ops": [0.0, 0.0, 1e-6],
                                   "bits": [0.0, 0.0, 0.0, 52624156172.0]}]),
    # the same with energy and tardiness weighed, a deadline of 0: the transfer costs nothing but
    # takes 5e7 s, a deadline-row coefficient of 5e19 in units of the tardiness that costs one
    # objective unit (OR-Tools' HiGHS: MODEL_INVALID)
    "time-1e20-units": dict(weights={"energy": 1.0, "tardiness": 1.0},
                            devices=[{"speed": 950134.0, "power_compute": 0.0, "power_tx": 0.0,
                                      "power_rx": 0.0, "rate_up": 1000.0, "rate_down": 1000.0,
                                      "latency": 0.0}],
                            jobs=[{"device": 0, "ops": [0.0, 0.0, 1e-6],
                                   "bits": [0.0, 0.0, 0.0, 52624156172.0], "deadline": 0.0}]),
    # (found by review) a tardiness weight of 1e16, all-device on time, offloading 1 ms late:
    # a unit of scale / tw = 2e-16 s put coefficients of 5e15 in the deadline row (OR-Tools'
    # HiGHS: MODEL_INVALID; highspy: an empty answer; lp-bound: no LP solution)
    "tardiness-weight-1e16": dict(weights={"energy": 1.0, "tardiness": 1e16},
                                  devices=[{"speed": 1000.0, "power_compute": 1.0,
                                            "power_tx": 0.0, "power_rx": 0.0, "rate_up": 1e12,
                                            "rate_down": 1e12, "latency": 0.0}],
                                  edge={"speed": 999.0}, cloud={"speed": 998.0},
                                  jobs=[{"device": 0, "ops": [1000.0, 1000.0],
                                         "bits": [0.0, 8.0, 8.0], "deadline": 2.000001}]),
}


@pytest.mark.parametrize("name", sorted(EXTREMES))
def test_extreme_magnitudes_agree_with_plain_enumeration(name):
    check_instance(_one_device(**EXTREMES[name]))
