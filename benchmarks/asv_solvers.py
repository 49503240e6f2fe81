"""asv: speed and quality of the solvers, tracked commit by commit.

``time_*`` is the solve time; ``track_*`` records what the solve achieved (cost ratio to the
proven optimum, gap), so a change that makes a solver faster by making it worse shows up.
Each setup checks the answer it will time against an exact reference.
"""

import numpy as np

from offbench.generators import random_instance
from offbench.discovery import resolve


def _solve(name, inst, **kw):
    r = resolve(name)(**kw.pop("params", {})).solve(inst, seed=0, **kw)
    if r.status == "error":
        raise RuntimeError(f"{name}: {r.error}")
    return r


class Exhaustive:
    params = [10, 12, 14]
    param_names = ["layers"]
    timeout = 120

    def setup(self, n):
        self.inst = random_instance(n, n_jobs=2, layers=(n // 2, n // 2), capacities=True,
                                    deadlines=True)
        r = _solve("exhaustive", self.inst)
        assert r.status == "optimal"

    def time_solve(self, n):
        _solve("exhaustive", self.inst)

    def track_placements_per_second(self, n):
        r = _solve("exhaustive", self.inst)
        return r.info["placements"] / r.wall_time

    track_placements_per_second.unit = "placements/s"


class DP:
    params = ([100, 10_000], [False, True])
    param_names = ["jobs", "deadlines"]

    def setup(self, jobs, deadlines):
        self.inst = random_instance(1, n_jobs=jobs, layers=(50, 50), deadlines=deadlines)
        assert _solve("dp", self.inst).status == "optimal"

    def time_solve(self, jobs, deadlines):
        _solve("dp", self.inst)


class Heuristics:
    """Quality of the heuristics against the proven optimum of coupled instances."""

    params = ["greedy", "neurosurgeon", "local-search", "random"]
    param_names = ["solver"]

    def setup_cache(self):
        out = []
        for seed in range(5):
            inst = random_instance(100 + seed, n_jobs=3, layers=(3, 4), capacities=True,
                                   deadlines=True)
            out.append((inst.to_json(), _solve("exhaustive", inst).cost))
        return out

    def setup(self, cache, name):
        from offbench import Instance

        self.cases = [(Instance.from_json(text), opt) for text, opt in cache]

    def time_solve(self, cache, name):
        for inst, _ in self.cases:
            _solve(name, inst)

    def track_mean_cost_ratio(self, cache, name):
        ratios = [_solve(name, inst).cost / opt for inst, opt in self.cases]
        assert min(ratios) >= 1 - 1e-9
        return float(np.mean(ratios))

    track_mean_cost_ratio.unit = "ratio"


class MILP:
    """milp's time to proof on coupled instances (capacities and deadlines), and what it
    proves: its gap at the end (0 when proven) and its cost ratio to exhaustive's optimum."""

    params = ["4x3", "8x4"]
    param_names = ["jobs x layers"]
    timeout = 180

    def setup(self, shape):
        jobs, layers = map(int, shape.split("x"))
        self.inst = random_instance(200 + jobs, n_jobs=jobs, layers=(layers, layers),
                                    capacities=True, deadlines=True)
        self.opt = _solve("exhaustive", self.inst, params={"max_layers": 16}).cost \
            if jobs * layers <= 16 else None
        r = _solve("milp", self.inst, time_limit=60)
        assert r.status == "optimal", r.status
        if self.opt is not None:
            assert abs(r.cost - self.opt) <= 1e-9 * max(1.0, abs(self.opt))

    def time_to_proof(self, shape):
        _solve("milp", self.inst, time_limit=60)

    def track_gap(self, shape):
        r = _solve("milp", self.inst, time_limit=60)
        return float(r.gap or 0.0)

    track_gap.unit = "gap"


class LPBound:
    """lp-bound's time, the gap of its certified bound, and its rounded decision's ratio to
    milp's proven optimum."""

    params = ["4x3", "8x4"]
    param_names = ["jobs x layers"]
    timeout = 180

    def setup(self, shape):
        jobs, layers = map(int, shape.split("x"))
        self.inst = random_instance(300 + jobs, n_jobs=jobs, layers=(layers, layers),
                                    capacities=True, deadlines=True)
        r = _solve("milp", self.inst, time_limit=60)
        assert r.status == "optimal"
        self.opt = r.cost
        b = _solve("lp-bound", self.inst, time_limit=60)
        assert b.bound is not None and b.bound <= self.opt * (1 + 1e-6)

    def time_solve(self, shape):
        _solve("lp-bound", self.inst, time_limit=60)

    def track_bound_gap(self, shape):
        r = _solve("lp-bound", self.inst, time_limit=60)
        return float((self.opt - r.bound) / self.opt) if self.opt > 0 else 0.0

    track_bound_gap.unit = "gap"

    def track_cost_ratio(self, shape):
        r = _solve("lp-bound", self.inst, time_limit=60)
        return float(r.cost / self.opt) if self.opt > 0 else 1.0

    track_cost_ratio.unit = "ratio"
