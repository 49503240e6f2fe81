"""The solver interface: parameters, results priced by the cost model, discovery, the CLI, and
the public checker run over every discovered solver."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

import offbench
from offbench.cli import main
from offbench.cost import evaluate
from offbench.generators import random_instance
from offbench.solver import Param, Proposal, Solver, SolverError, Unsupported
from offbench.discovery import discover, parse_params, resolve
from offbench.testing import SolverCheckError, battery, brute_force, check_solver


# ------------------------------------------------------------------ small solvers for the tests
class AllDeviceT(Solver):
    """Everything on the device."""
    name = "t-all-device"
    params = (Param("passes", int, 1, low=1, doc="unused"),
              Param("mode", str, "a", choices=("a", "b")),
              Param("scale", float, 1.0, low=0.0, high=2.0),
              Param("flag", bool, False))

    def _solve(self, inst, ctx):
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8), status="feasible")


class BruteT(Solver):
    """Brute force, claims optimality."""
    name = "t-brute"
    guarantee = "exact"

    def _solve(self, inst, ctx):
        opt = brute_force(inst)
        ctx.charge(3 ** inst.n_layers)
        return Proposal(opt.decision, status="optimal", objective=opt.cost)


class WrongShapeT(Solver):
    name = "t-wrong-shape"

    def _solve(self, inst, ctx):
        return Proposal([0] * (inst.n_layers + 1))


class NoisyT(Solver):
    """Ignores the seed."""
    name = "t-noisy"
    _calls = 0

    def _solve(self, inst, ctx):
        type(self)._calls += 1
        x = np.zeros(inst.n_layers, dtype=np.int8)
        x[type(self)._calls % inst.n_layers] = 1
        return Proposal(x)


class LiarT(Solver):
    """Claims optimal for all-cloud."""
    name = "t-liar"
    guarantee = "exact"

    def _solve(self, inst, ctx):
        return Proposal(np.full(inst.n_layers, 2, dtype=np.int8), status="optimal")


class LaxParamsT(Solver):
    name = "t-lax"
    params = (Param("n", int, 1, low=1),)

    def __init__(self, **kw):  # forgets to validate
        self.param_values = {"n": kw.get("n", 1)}

    def _solve(self, inst, ctx):
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8))


class CrashT(Solver):
    name = "t-crash"

    def _solve(self, inst, ctx):
        raise RuntimeError("boom")


class RefuseT(Solver):
    name = "t-refuse"

    def _solve(self, inst, ctx):
        raise Unsupported("only without capacities")


class BadBoundT(Solver):
    name = "t-bad-bound"
    guarantee = "bounded"

    def _solve(self, inst, ctx):
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8), bound=1e300)


class NeedsT(Solver):
    name = "t-needs"
    requires = ("surely_not_installed_module_xyz",)

    def _solve(self, inst, ctx):
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8))


# ------------------------------------------------------------------ Result and solve()
def test_result_is_priced_by_the_cost_model():
    inst = random_instance(3, n_jobs=3, layers=(1, 3), capacities=True, deadlines=True)
    r = BruteT().solve(inst, seed=1)
    assert r.status == "optimal" and r.feasible
    assert r.cost == evaluate(inst, r.decision).cost
    assert r.bound == r.cost and r.gap == 0.0
    assert r.evaluations == 3 ** inst.n_layers
    d = r.to_dict()
    assert list(d)[:6] == ["solver", "status", "decision", "cost", "bound", "wall_time"]
    json.dumps(d, allow_nan=False)


def test_failures_become_error_results():
    inst = random_instance(0)
    r = CrashT().solve(inst)
    assert r.status == "error" and "RuntimeError: boom" in r.error and r.decision is None
    assert "traceback" in r.info
    r = RefuseT().solve(inst)
    assert r.status == "error" and r.error == "unsupported: only without capacities"
    r = WrongShapeT().solve(inst)
    assert r.status == "error" and "invalid decision" in r.error
    r = BadBoundT().solve(inst)
    assert r.status == "error" and "exceeds the cost" in r.error
    r = NeedsT().solve(inst)
    assert r.status == "error" and "surely_not_installed_module_xyz" in r.error


def test_liar_is_caught_when_infeasible():
    inst = random_instance(2, capacities=True)
    r = LiarT().solve(inst)
    if not evaluate(inst, np.full(inst.n_layers, 2)).feasible:
        assert r.status == "error" and "infeasible" in r.error


def test_param_validation_messages():
    with pytest.raises(SolverError, match=r"The 'passes' parameter of solver t-all-device-v1 must be an int in \[1, inf\)\. Got 0\."):
        AllDeviceT(passes=0)
    with pytest.raises(SolverError, match=r"'mode' parameter .* one of \{'a', 'b'\}"):
        AllDeviceT(mode="c")
    with pytest.raises(SolverError, match=r"no parameter 'pases'. Did you mean 'passes'\?"):
        AllDeviceT(pases=2)
    s = AllDeviceT(passes=3, scale=2)
    assert s.passes == 3 and s.scale == 2.0 and s.mode == "a"
    assert parse_params(AllDeviceT, ["passes=4", "flag=true", "scale=0.5"]) == {
        "passes": 4, "flag": True, "scale": 0.5}
    with pytest.raises(SolverError, match="expected NAME=VALUE"):
        parse_params(AllDeviceT, ["passes"])
    with pytest.raises(SolverError, match="'passes' parameter"):
        parse_params(AllDeviceT, ["passes=many"])


def test_time_limit_must_be_positive():
    with pytest.raises(SolverError, match="time_limit"):
        AllDeviceT().solve(random_instance(0), time_limit=0)


# ------------------------------------------------------------------ the checker
def test_checker_passes_good_solvers():
    assert check_solver(AllDeviceT) == ["params", "result", "feasible", "determinism", "optimality"]
    check_solver(BruteT)


@pytest.mark.parametrize("cls, check, text", [
    (WrongShapeT, "result", "invalid decision"),
    (NoisyT, "determinism", "differ"),
    (LiarT, "optimality", "claimed optimal"),
    (LaxParamsT, "params", "accepted the bad value"),
    (CrashT, "result", "RuntimeError: boom"),
])
def test_checker_catches_broken_solvers(cls, check, text):
    with pytest.raises(SolverCheckError) as e:
        check_solver(cls)
    assert f"[{check}]" in str(e.value) and text in str(e.value)


def test_battery_covers_the_cases():
    b = battery()
    assert any(i.has_capacities and i.has_deadlines for i in b)
    assert any(not i.has_capacities and not i.has_deadlines for i in b)
    assert any(i.n_jobs == 1 and i.n_layers == 1 for i in b)
    assert all(i.n_layers <= 11 for i in b)
    assert any((i.ops == 0).any() or (i.bits == 0).any() for i in b)


# Known failures of built-in solvers: (solver ID, check) -> reason. Empty is the goal.
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


def _discovered():
    return [e for e in discover().values()]


@pytest.mark.parametrize("entry", _discovered(), ids=lambda e: e.id)
def test_every_discovered_solver_passes_the_checker(entry):
    assert entry.cls is not None, f"{entry.origin} could not be loaded: {entry.problem}"
    if entry.cls.missing_requirements():
        pytest.skip(f"needs {entry.cls.missing_requirements()}")
    skip = [c for (sid, c) in KNOWN_FAILURES if sid == entry.id]
    check_solver(entry.cls, skip=skip, time_limit=30)


# ------------------------------------------------------------------ discovery and the CLI
PLUGIN = textwrap.dedent('''
    import numpy as np
    from offbench.solver import Solver, Proposal, Param

    class EdgeEverything(Solver):
        """Everything on the edge (a plug-in)."""
        name = "plug-edge"
        version = 2
        params = (Param("k", int, 1, low=0),)

        def _solve(self, inst, ctx):
            return Proposal(np.ones(inst.n_layers, dtype=np.int8))

    class EdgeEverythingOld(EdgeEverything):
        """The old version."""
        version = 1
''')


def test_plugin_folder_discovery_versions_and_cli(tmp_path, capsys):
    d = tmp_path / "plugins"
    d.mkdir()
    (d / "edge.py").write_text(PLUGIN)
    (d / "broken.py").write_text("raise ImportError('missing dependency foo')\n")
    entries = discover([d])
    assert "plug-edge-v2" in entries and "plug-edge-v1" in entries
    assert any(e.problem and "missing dependency foo" in e.problem for e in entries.values())
    assert resolve("plug-edge", [d]).version == 2
    assert resolve("plug-edge-v1", [d]).version == 1
    with pytest.raises(SolverError, match="Did you mean plug-edge"):
        resolve("plug-edg", [d])
    inst_path = tmp_path / "i.json"
    inst = random_instance(1)
    inst_path.write_text(inst.to_json())
    assert main(["solve", str(inst_path), "--solver", "plug-edge", "--solvers-dir", str(d),
                 "--param", "k=3", "--seed", "4"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["solver"] == "plug-edge-v2" and out["decision"] == [1] * inst.n_layers
    assert out["cost"] == evaluate(inst, out["decision"]).cost
    assert out["params"] == {"k": 3} and out["seed"] == 4
    assert main(["solve", str(inst_path), "--solver", "plug-edge", "--solvers-dir", str(d),
                 "--param", "k=-1"]) == 2
    assert "The 'k' parameter of solver plug-edge-v2 must be an int in [0, inf). Got -1." in capsys.readouterr().err
    assert main(["solve", str(inst_path), "--solver", "nope-solver"]) == 2
    assert "unknown solver 'nope-solver'" in capsys.readouterr().err
    assert main(["solve", str(inst_path), "--solver", "plug-edge", "--solvers-dir", str(d),
                 "--time-limit", "-3"]) == 2
    capsys.readouterr()
    assert main(["solvers", "--solvers-dir", str(d)]) == 0
    listing = capsys.readouterr().out
    assert "plug-edge-v2" in listing and "NOT LOADED" in listing
    assert main(["solvers", "--json", "--solvers-dir", str(d)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert any(r["id"] == "plug-edge-v1" and r["guarantee"] == "heuristic" for r in rows)


def test_top_level_solve_api(tmp_path):
    d = tmp_path / "p"
    d.mkdir()
    (d / "edge.py").write_text(PLUGIN)
    inst = random_instance(2)
    r = offbench.solve(inst, "plug-edge", solver_dirs=[d], seed=0)
    assert r.status == "feasible" and r.decision.tolist() == [1] * inst.n_layers


NOISY = textwrap.dedent('''
    import os
    import numpy as np
    from offbench.solver import Proposal, Solver

    class Noisy(Solver):
        """Writes to standard output from Python and from native code, as MILP logs do."""
        name = "noisy"

        def _solve(self, inst, ctx):
            print("python noise")
            os.write(1, b"native noise\\n")
            return Proposal(np.zeros(inst.n_layers, dtype=np.int8))
''')


def test_solve_stdout_is_only_the_json(tmp_path):
    import subprocess
    import sys

    d = tmp_path / "noisy"
    d.mkdir()
    (d / "noisy.py").write_text(NOISY)
    inst_path = tmp_path / "i.json"
    inst_path.write_text(random_instance(1).to_json())
    p = subprocess.run([sys.executable, "-m", "offbench", "solve", str(inst_path), "--solver",
                        "noisy", "--solvers-dir", str(d)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["status"] == "feasible"
    assert "python noise" in p.stderr and "native noise" in p.stderr


class BooleanT(Solver):
    """Returns a mask where a decision is due: it would read as device/edge."""

    name = "t-boolean"

    def __init__(self, as_list: bool = False, **kw):
        super().__init__(**kw)
        self.as_list = as_list

    def _solve(self, inst, ctx):
        mask = np.arange(inst.n_layers) % 2 == 0
        return Proposal(mask.tolist() if self.as_list else mask)


def test_a_boolean_decision_is_refused_not_read_as_tiers():
    """SPEC.md section 4: a decision is tiers 0, 1, 2 (a hunt found a bool array scored as
    tiers 0 and 1); lists of bools too, while lists of ints still pass."""
    inst = random_instance(0)
    for as_list in (False, True):
        r = BooleanT(as_list=as_list).solve(inst)
        assert r.status == "error" and r.decision is None, r
        assert "invalid decision" in r.error and "booleans" in r.error
