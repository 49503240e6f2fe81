"""``milp`` with HiGHS through its own Python API (``backend=highspy``).

Against brute force on the small cases of ``test_milp`` (every formulation), the certified
bound at or below the optimum, the same answer for the same seed, and what only this back end
gives: a starting solution taken (``hint``), and at a limit its incumbent, its dual bound and its
node count. The capacity classes of issue 9 (capacity 0, load equal to the capacity) run with
every back end in ``tests/test_agreement.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from offbench.cost import evaluate
from offbench.discovery import resolve
from offbench.generators import random_instance
from offbench.instance import save_instance

import offbench_solvers._formulation as F
from offbench_solvers._backends import solve_linear

from .test_milp import CASES, OPTIMA, check_exact

MILP = resolve("milp")


@pytest.mark.parametrize("formulation", ["paths", "transitions", "linked", "auto"])
def test_agrees_with_brute_force(formulation):
    for inst in CASES:
        r = MILP(backend="highspy", formulation=formulation).solve(inst)
        check_exact(inst, r, OPTIMA[inst.name])
        if r.info.get("formulation") != "paths" or formulation == "paths":
            assert r.info["backend"] == "highspy"


def test_textbook_model_agrees_with_brute_force():
    """No reduction, no cutoff, no start: the plain transition model alone."""
    for inst in CASES[:6]:
        r = MILP(backend="highspy", formulation="transitions", reduce=False).solve(inst)
        check_exact(inst, r, OPTIMA[inst.name])


def test_coupled_instance_agrees_with_the_other_back_ends():
    inst = random_instance(11, n_jobs=8, layers=(5, 5), capacities=True, deadlines=True)
    a = MILP(backend="highspy").solve(inst, seed=3)
    b = MILP(backend="scip").solve(inst, seed=3)
    assert a.status == b.status == "optimal", (a.error, b.error)
    assert a.cost == pytest.approx(b.cost, rel=1e-8)
    assert a.info["lagrangian_bound"] <= a.cost * (1 + 1e-12) and a.bound <= a.cost
    assert isinstance(a.info["backend_nodes"], int) and a.info["backend_nodes"] >= 0
    # The same seed, the same answer.
    c = MILP(backend="highspy").solve(inst, seed=3)
    assert np.array_equal(a.decision, c.decision) and a.cost == c.cost
    assert a.info["backend_nodes"] == c.info["backend_nodes"]


def _hard_model():
    inst = random_instance(3, n_jobs=20, layers=(10, 10), capacities=True, deadlines=True)
    lm = F.transition_model(inst)
    return inst, lm


def test_start_solution_is_taken_and_kept_at_a_node_limit():
    """Stopped after one node, HiGHS returns a solution no worse than the start it was given
    (the all-device decision, always feasible), with a dual bound below it."""
    inst, lm = _hard_model()
    x0 = np.zeros(inst.n_layers, dtype=np.int8)
    start = lm.encode(x0)
    info: dict = {}
    out = solve_linear("highspy", lm.obj, lm.A, lm.row_lo, lm.row_hi, lm.lb, lm.ub, lm.integer,
                       time_limit=60.0, threads=1, seed=0, hint=start, node_limit=1, info=info)
    assert out.status in ("feasible", "optimal", "timeout"), out.message
    assert out.values is not None
    assert out.objective <= float(lm.obj @ start) * (1 + 1e-9)
    assert out.bound is not None and out.bound <= out.objective * (1 + 1e-9)
    assert info["backend_nodes"] <= 1
    x = lm.decode(out.values)
    assert evaluate(inst, x).feasible


def test_a_time_limit_gives_the_backends_incumbent_and_bound():
    """At a limit, milp keeps what HiGHS found and its bound (OR-Tools' interface returned
    nothing there): a feasible decision, a bound at most its cost, the nodes counted."""
    inst = random_instance(3, n_jobs=20, layers=(10, 10), capacities=True, deadlines=True)
    r = MILP(backend="highspy", formulation="transitions").solve(inst, time_limit=1.0)
    assert r.status in ("timeout", "optimal"), r.error
    assert r.decision is not None and r.feasible
    assert r.bound is not None and r.bound <= r.cost
    if "backend" in r.info["phases"]:
        assert r.info["backend_nodes"] >= 0


def test_cli_prints_only_json(tmp_path):
    """highspy prints a banner when it starts; `offbench solve` still prints one JSON object."""
    inst = random_instance(2, n_jobs=4, layers=(3, 4), capacities=True, deadlines=True)
    path = tmp_path / "i.json"
    save_instance(inst, path)
    p = subprocess.run([sys.executable, "-m", "offbench", "solve", str(path), "--solver", "milp",
                        "--param", "backend=highspy"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["status"] == "optimal"
    assert out["cost"] == pytest.approx(MILP(backend="highspy").solve(inst).cost, rel=1e-12)


def test_runs_with_another_thread_count_in_the_same_process():
    """HiGHS's task scheduler is process-wide and keeps the first run's thread count; a solve
    with another count (after cvxpy's HiGHS or a ``threads=2`` milp) must still run, not
    answer "Not Set"."""
    import highspy
    import scipy.sparse as sp

    A = sp.csr_matrix(np.ones((1, 2)))
    args = (np.array([1.0, 2.0]), A, np.array([1.0]), np.array([1.0]), np.zeros(2), np.ones(2),
            np.ones(2, dtype=bool))
    for threads in (2, 1, 3, 1):
        out = solve_linear("highspy", *args, time_limit=10.0, threads=threads, seed=0)
        assert out.status == "optimal" and out.objective == pytest.approx(1.0), (threads, out.message)
    # Someone else (as cvxpy does) runs HiGHS with another count first.
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 2)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = 1, 0
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = np.array([1.0]), np.array([0.0]), np.array([1.0])
    h.passModel(lp)
    h.run()
    out = solve_linear("highspy", *args, time_limit=10.0, threads=1, seed=0)
    assert out.status == "optimal", out.message
