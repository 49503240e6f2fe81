"""milp respects its deadline in every phase (issue 9's overrun: 42-68 s on a 10 s limit).

No wall-clock assertions (they flake on a loaded machine). Instead the solver's own record of
its phases (``info["phases"]``, seconds since the solve started) is checked against the limit:
no phase is entered at or after the deadline, and the back end's own limit never reaches past
it. The machine's slowness is simulated by an injected clock (``time.perf_counter`` running
many times faster than real time, so that each step of the solve looks slow), which also
makes the deadline fall inside a different phase for each speed-up.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from offbench.cost import evaluate
from offbench.discovery import resolve
from offbench.generators import random_instance

import offbench_solvers._formulation as F
import offbench_solvers.milp as M

MILP = resolve("milp")
PHASES = ("lagrangian", "restricted_milp", "path_enumeration", "placement_fixing",
          "job_paths", "model_build", "backend")


def hard_instance():
    """A coupled 20 x 10 instance of the milp-scale kind (4 devices, both capacities 0.1 of the
    total ops, deadlines): the plain transition model needs seconds to minutes on it."""
    kw = dict(n_devices=4, n_jobs=20, layers=(10, 10), capacities=True, deadlines=True)
    total = float(np.sum(random_instance(2003, **kw).ops))
    return random_instance(2003, **kw, edge_capacity=0.1 * total, cloud_capacity=0.1 * total)


def fast_clock(monkeypatch, factor: float):
    """``time.perf_counter`` running ``factor`` times faster than real time from now on."""
    real = time.perf_counter
    t0 = real()
    monkeypatch.setattr(time, "perf_counter", lambda: t0 + (real() - t0) * factor)


def check_phases(inst, r, limit: float):
    """No phase entered at or after the deadline; the back end's limit within it; a feasible
    decision; a proof or a timeout, and a bound."""
    phases = r.info["phases"]
    # A restarted MILP's earlier rounds are kept as name#round (milp's docstring, step 5).
    base = {k.split("#")[0] for k in phases}
    assert base <= set(PHASES) and set(r.info.get("phases_skipped", ())) <= set(PHASES)
    assert all(k.split("#")[0] in M.ROUND_PHASES for k in phases if "#" in k)
    late = {k: v for k, v in phases.items() if v[0] >= limit}
    assert not late, f"phases entered after the {limit} s deadline: {late}"
    for name, (start, end) in phases.items():
        assert end is not None and end >= start, name
    if "backend_time_limit" in r.info:
        # the last round's back end (the final one, or the last restarted one)
        last = phases.get("backend") or phases[f"backend#{r.info['restarts']}"]
        assert last[0] + r.info["backend_time_limit"] <= limit * (1 + 1e-9)
    assert r.status in ("optimal", "timeout"), (r.status, r.error, r.info.get("stopped"))
    assert r.decision is not None and r.feasible
    assert r.cost == pytest.approx(evaluate(inst, r.decision).cost)
    if r.status == "timeout":
        # stopped before the MILP (and why), or the back end's own timeout
        assert r.info.get("stopped") or r.info.get("backend_status")
    return phases


@pytest.fixture(scope="module")
def inst():
    F.warm_kernels()        # compilation is not what is measured here
    return hard_instance()


@pytest.mark.parametrize("factor, limit", [(1000.0, 1.0), (200.0, 10.0), (20.0, 10.0)])
def test_no_phase_starts_after_the_deadline(monkeypatch, inst, factor, limit):
    """Under a clock 20 to 1000 times faster than real time, the 1-10 s limit falls inside
    the column generation, the incumbent's restricted MILP or the back end; whichever it is,
    the phases after it are skipped and the answer is the incumbent, reported as a timeout."""
    fast_clock(monkeypatch, factor)
    for formulation in ("auto", "transitions"):
        r = MILP(formulation=formulation).solve(inst, time_limit=limit)
        phases = check_phases(inst, r, limit)
        seen = list(phases) + r.info.get("phases_skipped", [])
        assert seen and seen[0] == "lagrangian"
        if r.status == "timeout":
            assert r.info["decision_source"] == "heuristic" or "backend" in phases


def test_deadline_before_the_first_phase(monkeypatch, inst):
    """A limit already spent when the solve starts: nothing is entered, the all-device
    decision comes back as a timeout (no bound is claimed)."""
    fast_clock(monkeypatch, 1e9)
    r = MILP().solve(inst, time_limit=1e-6)
    assert r.info["phases"] == {} and r.info["phases_skipped"][0] == "lagrangian"
    assert r.status == "timeout" and r.feasible and not r.decision.any()
    assert r.bound is None


def test_real_clock_small_limit(inst):
    """The real clock, a limit far below what the proof needs: a timeout (or a proof) with
    the best incumbent and a certified bound, every phase entered before the limit."""
    r = MILP(formulation="transitions").solve(inst, time_limit=0.5)
    check_phases(inst, r, 0.5)
    assert r.bound is None or r.bound <= r.cost * (1 + 1e-12)


def test_backend_limit_counts_model_building():
    """solve_linear's limit is what is left of its deadline after the model is built; with
    nothing left it does not start the back end."""
    import scipy.sparse as sp

    from offbench_solvers.milp import solve_linear

    A = sp.csr_matrix(np.ones((1, 2)))
    info = {}
    out = solve_linear("highs", np.array([1.0, 2.0]), A, np.array([1.0]), np.array([1.0]),
                       np.zeros(2), np.ones(2), np.ones(2, dtype=bool), time_limit=100.0,
                       threads=1, seed=0, deadline=time.perf_counter() + 5.0, info=info)
    assert out.status == "optimal" and 0 < info["backend_time_limit"] <= 5.0
    out = solve_linear("highs", np.array([1.0, 2.0]), A, np.array([1.0]), np.array([1.0]),
                       np.zeros(2), np.ones(2), np.ones(2, dtype=bool), time_limit=100.0,
                       threads=1, seed=0, deadline=time.perf_counter() - 1.0)
    assert out.status == "timeout" and out.values is None
