"""Quality against time (issue 13): incumbent trajectories of milp and local search, priced by
the referee, drawn as anytime curves.

- a recorded trajectory is bounded (at most 64 points, thinned geometrically in time), its
  times non-decreasing and its claimed costs decreasing, and every claim is the cost model's;
- the referee prices every point itself: a hostile solver that claims a too-low cost in its
  trajectory gets the referee's costs stored and the row flagged (so it is not solved); a
  malformed trajectory is flagged and dropped;
- ``offbench leaderboard --plots`` draws the anytime figure from a run's stored trajectories.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from offbench.cli import main
from offbench.cost import evaluate
from offbench.discovery import resolve
from offbench.generators import random_instance
from offbench.run import InProcessExecutor, parse_spec, run
from offbench.run.referee import judge, judge_trajectory
from offbench.store import Store
from offbench.tracks.outcome import Outcome

from offbench_solvers._trajectory import MAX_POINTS, Trajectory, decision_text, thin


def coupled(seed=3, n_jobs=10, layers=8):
    kw = dict(n_devices=4, n_jobs=n_jobs, layers=(layers, layers), capacities=True,
              deadlines=True)
    total = float(np.sum(random_instance(seed, **kw).ops))
    return random_instance(seed, **kw, edge_capacity=0.1 * total, cloud_capacity=0.1 * total)


def check_trajectory(inst, r):
    tr = r.info["trajectory"]
    t, c, d = tr["t"], tr["cost"], tr["decision"]
    assert 1 <= len(t) == len(c) == len(d) <= MAX_POINTS
    assert all(b >= a for a, b in zip(t, t[1:])) and t[0] >= 0
    assert all(b < a for a, b in zip(c, c[1:]))
    assert t[-1] <= r.wall_time + 1e-3
    for cost, text in zip(c, d):
        x = np.frombuffer(text.encode(), np.uint8).astype(np.int8) - ord("0")
        ev = evaluate(inst, x)
        assert ev.feasible and ev.cost == pytest.approx(cost, rel=1e-9)
    assert c[-1] == pytest.approx(r.cost, rel=1e-9)      # the answer is the last incumbent


# ------------------------------------------------------------------------------ the recorder
def test_thinning_is_bounded_geometric_and_keeps_the_ends():
    pts = [(1e-5 * 1.05 ** k, 1000.0 - k, str(k)) for k in range(500)]
    kept = thin(pts, 64)
    assert len(kept) <= 64 and kept[0] == pts[0] and kept[-1] == pts[-1]
    ratios = [b[0] / max(a[0], 1e-4) for a, b in zip(kept[:-2], kept[1:-1]) if a[0] >= 1e-4]
    assert min(ratios) >= 1.0 and max(ratios) / min(ratios) < 2.0   # about evenly spaced in log
    assert thin(pts[:10], 64) == pts[:10]


def test_recorder_keeps_only_improvements_and_stays_bounded():
    clock = iter(np.arange(0.0, 1e4, 0.5))
    tr = Trajectory(0.0, clock=lambda: float(next(clock)))
    x = np.zeros(5, dtype=np.int8)
    assert tr.record(x, 10.0) and not tr.record(x, 10.0) and not tr.record(x, 11.0)
    for k in range(1000):
        tr.record(x, 9.0 - k * 1e-3)
        assert len(tr.points) <= 2 * MAX_POINTS
    info = tr.to_info()
    assert len(info["t"]) <= MAX_POINTS and info["cost"][-1] == pytest.approx(9.0 - 0.999)
    assert info["decision"][0] == decision_text(x) == "00000"
    assert not tr.record(x, math.nan)


# ------------------------------------------------------------------------------ the solvers
@pytest.mark.parametrize("solver, params", [("milp", {}), ("milp", {"formulation": "transitions"}),
                                            ("local-search", {"restarts": 20})])
def test_solvers_record_their_incumbents(solver, params):
    inst = coupled(n_jobs=6, layers=6)
    r = resolve(solver)(**params).solve(inst, time_limit=30, seed=1)
    assert r.feasible
    check_trajectory(inst, r)
    if solver == "milp":
        assert r.info["trajectory"]["decision"][0] == "0" * inst.n_layers   # all-device first


# ------------------------------------------------------------------------------ the referee
def _job(inst, ref_cost):
    ref = {"cost": ref_cost, "provenance": "heuristic"}
    return SimpleNamespace(instance=inst, reference=ref, frames=None, score=True, time_limit=10.0)


def _outcome(inst, decisions, claimed, times):
    x = decisions[-1]
    info = {"trajectory": {"t": times, "cost": claimed,
                           "decision": [decision_text(d) for d in decisions]}}
    return Outcome(status="feasible", cost=float(evaluate(inst, x).cost), feasible=True,
                   decision=decision_text(x), wall_time=1.0, info=info)


def test_referee_prices_every_point_and_flags_a_low_claim():
    inst = coupled(n_jobs=4, layers=4)
    r = resolve("local-search")().solve(inst, seed=0)
    d0 = np.zeros(inst.n_layers, dtype=np.int8)
    costs = [float(evaluate(inst, d0).cost), float(r.cost)]
    honest = judge(_job(inst, r.cost), _outcome(inst, [d0, r.decision], costs, [0.1, 0.5]))
    assert honest.flags == [] and honest.ratio == pytest.approx(1.0)
    tr = honest.info["trajectory"]
    assert "decision" not in tr and "claimed_cost" not in tr
    assert tr["cost"] == pytest.approx(costs) and tr["feasible"] == [True, True]
    assert tr["ratio"] == pytest.approx([costs[0] / r.cost, 1.0])
    # a hostile solver claims its first incumbent was already 1 % below the final cost
    lie = judge(_job(inst, r.cost), _outcome(inst, [d0, r.decision], [0.99 * r.cost, r.cost],
                                             [0.1, 0.5]))
    assert "trajectory_mismatch" in lie.flags and lie.counted_infeasible
    assert lie.info["trajectory"]["cost"] == pytest.approx(costs)     # the referee's prices
    assert lie.info["trajectory"]["claimed_cost"][0] == pytest.approx(0.99 * r.cost)
    # times past the supervised wall time are clipped to it
    late = judge(_job(inst, r.cost), _outcome(inst, [d0, r.decision], costs, [0.1, 50.0]))
    assert late.info["trajectory"]["t"] == [0.1, 1.0] and late.flags == []


@pytest.mark.parametrize("bad", [
    {"t": [0.5, 0.1], "cost": None, "decision": None},                 # time goes backwards
    {"t": [0.1], "cost": None, "decision": None},                      # lengths differ
    {"t": [0.1, 0.2], "cost": None, "decision": ["01", "0"]},          # not a decision
    {"t": [0.1, math.nan], "cost": None, "decision": None},
    "not a trajectory",
])
def test_referee_flags_a_malformed_trajectory(bad):
    inst = coupled(n_jobs=2, layers=2)
    d0 = np.zeros(inst.n_layers, dtype=np.int8)
    c0 = float(evaluate(inst, d0).cost)
    out = _outcome(inst, [d0, d0], [c0, c0], [0.1, 0.2])
    if isinstance(bad, dict):
        for k, v in bad.items():
            if v is not None:
                out.info["trajectory"][k] = v
    else:
        out.info["trajectory"] = bad
    flags: list = []
    judge_trajectory(inst, None, out, flags)
    assert flags == ["malformed_trajectory"] and out.info["trajectory"] is None


# ------------------------------------------------------------------------------ the figure
HOSTILE = '''
import numpy as np
from offbench.cost import evaluate
from offbench.solver import Proposal, Solver


class LowClaims(Solver):
    """Returns all-device, claiming in its trajectory a cost far below it."""
    name = "cx-low-trajectory"
    version = 1
    guarantee = "heuristic"

    def _solve(self, inst, ctx):
        x = np.zeros(inst.n_layers, dtype=np.int8)
        c = float(evaluate(inst, x).cost)
        tr = {"t": [0.0], "cost": [0.5 * c], "decision": ["0" * inst.n_layers]}
        return Proposal(x, status="feasible", info={"trajectory": tr})
'''


def test_run_stores_priced_trajectories_and_the_figure_is_drawn(tmp_path):
    (tmp_path / "cheat").mkdir()
    (tmp_path / "cheat" / "low_claims.py").write_text(HOSTILE)
    spec = parse_spec({"name": "anytime-test", "time_limit": 10.0, "seeds": [0],
                       "reference": {"mode": "auto", "time_limit": 30.0},
                       "sources": [{"kind": "random", "name": "coupled", "count": 2,
                                    "n_devices": 3, "n_jobs": 4, "layers": [4, 4],
                                    "capacities": True, "deadlines": True}],
                       "solvers": ["milp", "local-search", "cx-low-trajectory"],
                       "solvers_dirs": [str(tmp_path / "cheat")]})
    store = tmp_path / "r.sqlite"
    run(spec, store, executor=InProcessExecutor())
    with Store.open_readonly(store) as s:
        rows = list(s.results())
    by = {}
    for r in rows:
        by.setdefault(r["solver_id"].rsplit("-v", 1)[0], []).append(r)
    for name in ("milp", "local-search"):
        for r in by[name]:
            tr = r["info"]["trajectory"]
            assert r["flags"] in ([], None, "[]") and "decision" not in tr
            assert tr["ratio"][-1] == pytest.approx(r["ratio"], rel=1e-9)
            assert all(b >= a for a, b in zip(tr["t"], tr["t"][1:]))
    for r in by["cx-low-trajectory"]:
        flags = r["flags"] if isinstance(r["flags"], list) else json.loads(r["flags"])
        assert "trajectory_mismatch" in flags
        assert r["info"]["trajectory"]["cost"] == pytest.approx([r["cost"]])
    figs = tmp_path / "fig"
    assert main(["leaderboard", "--store", str(store), "--plots", str(figs), "-o",
                 str(tmp_path / "lb.md")]) == 0
    png = figs / "coupled-static-anytime.png"
    assert png.exists() and png.stat().st_size > 10_000
    assert (figs / "coupled-static-anytime.pdf").exists()
