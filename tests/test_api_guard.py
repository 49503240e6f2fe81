"""Plug-ins run in the caller's process by ``offbench.solve``, ``offbench solve`` and
``check_solver`` get their own copy of the instance: one that made the arrays it was given
writeable (they own their memory) or swapped their fields changed the caller's instance, and
its answer was priced on what it had changed ("cost 3.8e-18, feasible"). A constructor that
raises, and wrong arguments to ``offbench.solve``, give messages, not tracebacks."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

import offbench
from offbench.cli import main
from offbench.generators import random_instance
from offbench.instance import save_instance
from offbench.solver import SolverError
from offbench.testing import SolverCheckError, check_solver

PLUGINS = '''
import numpy as np
from offbench.solver import Proposal, Solver


class Scale(Solver):
    """Makes the arrays it is given writeable and scales them down."""
    name = "tamper-scale"

    def _solve(self, inst, ctx):
        for f in ("ops", "bits", "job_weight"):
            a = getattr(inst, f)
            a.setflags(write=True)
            a[...] = a * 1e-6
        return Proposal(np.zeros(inst.n_layers, np.int8))


class Swap(Solver):
    """Swaps the instance's fields for others."""
    name = "tamper-swap"

    def _solve(self, inst, ctx):
        object.__setattr__(inst, "ops", np.zeros_like(inst.ops))
        object.__setattr__(inst, "w_time", 0.0)
        return Proposal(np.zeros(inst.n_layers, np.int8), status="optimal", bound=0.0)


class Tables(Solver):
    """Leaves the fields alone and scales the cached cost tables."""
    name = "tamper-tables"

    def _solve(self, inst, ctx):
        from offbench.cost import tables
        for a in tables(inst):
            if a.dtype.kind == "f" and a.size:
                if a.base is not None:  # deliberately: the views' read-only owner first
                    a.base.setflags(write=True)
                a.setflags(write=True)
                a *= 1e-6
        return Proposal(np.zeros(inst.n_layers, np.int8))


class Boom(Solver):
    """Raises in its constructor."""
    name = "tamper-boom"

    def __init__(self, **params):
        raise RuntimeError("boom in __init__")
'''


@pytest.fixture
def plug(tmp_path):
    d = tmp_path / "plug"
    d.mkdir()
    (d / "tamper.py").write_text(textwrap.dedent(PLUGINS))
    return str(d)


@pytest.mark.parametrize("sid,what", [("tamper-scale", "ops, bits, job_weight"),
                                      ("tamper-swap", "w_time, ops"),
                                      ("tamper-tables", "")])  # (its fields or its tables)
def test_a_solver_that_changes_its_instance_changes_only_its_copy(plug, sid, what):
    inst = random_instance(3, n_jobs=2, layers=(2, 3))
    digest, cost = inst.digest, offbench.evaluate(inst, np.zeros(inst.n_layers, np.int8)).cost
    r = offbench.solve(inst, sid, solver_dirs=plug)  # one folder, as a str
    assert r.status == "error" and r.decision is None and r.cost is None
    assert r.error.startswith(f"solver {sid}-v1 changed the instance it was given (")
    assert all(w in r.error for w in what.split(", "))
    assert inst.digest == digest
    assert offbench.evaluate(inst, np.zeros(inst.n_layers, np.int8)).cost == cost
    assert offbench.solve(inst, "all-device").cost == cost


def test_offbench_solve_and_check_solver_use_the_copy_too(plug, tmp_path, capsys):
    p = tmp_path / "i.json"
    save_instance(random_instance(3, n_jobs=2, layers=(2, 3)), p)
    assert main(["solve", str(p), "--solver", "tamper-scale", "--solvers-dir", plug]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["status"] == "error" and "changed the instance it was given" in row["error"]
    from offbench.discovery import resolve

    battery = [random_instance(5, n_jobs=2, layers=(2, 2))]
    before = battery[0].digest
    with pytest.raises(SolverCheckError, match=r"\[result\] tamper-swap-v1: .*changed the instance"):
        check_solver(resolve("tamper-swap", [plug]), instances=battery)
    assert battery[0].digest == before
    with pytest.raises(SolverCheckError, match=r"\[params\] tamper-boom-v1: default construction"):
        check_solver(resolve("tamper-boom", [plug]), instances=battery)


def test_a_constructor_that_raises_is_a_message(plug, tmp_path, capsys):
    p = tmp_path / "i.json"
    save_instance(random_instance(3, n_jobs=2, layers=(2, 3)), p)
    want = "solver tamper-boom-v1: its constructor raised RuntimeError: boom in __init__"
    with pytest.raises(SolverError, match=want):
        offbench.solve(offbench.load_instance(p), "tamper-boom", solver_dirs=[plug])
    assert main(["solve", str(p), "--solver", "tamper-boom", "--solvers-dir", plug]) == 2
    assert want in capsys.readouterr().err
    assert main(["run", "--instances", str(p), "--solver", "tamper-boom", "--solvers-dir", plug,
                 "--store", str(tmp_path / "s.sqlite")]) == 2
    err = capsys.readouterr().err
    assert want in err and "Traceback" not in err


@pytest.mark.parametrize("kwargs,error,match", [
    ({"inst": "i.json"}, TypeError, "inst must be an Instance"),
    ({"time_limit": "1"}, ValueError, "time_limit must be a number of seconds > 0"),
    ({"time_limit": 0}, ValueError, "time_limit must be a number of seconds > 0"),
    ({"seed": "a"}, ValueError, "seed must be an integer >= 0"),
    ({"seed": 1.7}, ValueError, "seed must be an integer >= 0"),
])
def test_wrong_arguments_to_solve_are_named(kwargs, error, match):
    args = {"inst": random_instance(3, n_jobs=1, layers=(2, 2)), "solver": "greedy", **kwargs}
    with pytest.raises(error, match=match):
        offbench.solve(**args)


@pytest.mark.parametrize("limit", [np.int64(5), np.float32(2.5), np.float64(5.0)])
def test_solve_takes_numpy_numbers_as_time_limits(limit):
    # np.int64(5) and np.float32(2.5) were refused: 'time_limit must be a number of seconds > 0'
    inst = random_instance(3, n_jobs=1, layers=(2, 2))
    res = offbench.solve(inst, "greedy", time_limit=limit, seed=np.int64(1))
    assert res.status == "feasible"


def test_wrong_arguments_elsewhere_in_the_api_are_named(tmp_path):
    from offbench.dag import random_dag_instance
    from offbench.instance import save_instance

    inst = random_instance(3, n_jobs=1, layers=(2, 2))
    for fn in (offbench.evaluate, offbench.evaluate_many):
        with pytest.raises(TypeError, match=f"{fn.__name__}: inst must be an Instance"):
            fn(str(tmp_path / "i.json"), [[0, 0]] if fn is offbench.evaluate_many else [0, 0])
    dag = random_dag_instance(4, n_jobs=2, nodes=(3, 4))
    assert offbench.evaluate(dag, np.zeros(dag.n_layers, np.int8)).cost > 0
    with pytest.raises(ValueError, match=r"zero_fraction must be in \[0, 1\], got 2.0"):
        random_instance(1, zero_fraction=2.0)
    # refused, not truncated: seed 1.5 drew seed 1's instance (named random-1.5), and
    # n_jobs="3" or None was a bare TypeError from a comparison
    for kw, match in (({"seed": 1.5}, r"seed must be an int >= 0, got 1.5"),
                      ({"seed": True}, r"seed must be an int >= 0, got True"),
                      ({"seed": -1}, r"seed must be an int >= 0, got -1"),
                      ({"n_jobs": "3"}, r"n_jobs must be an int >= 1, got '3'"),
                      ({"n_devices": None}, r"n_devices must be an int >= 1, got None"),
                      ({"layers": (1.5, 3)}, r"layers must be \(lo, hi\), ints"),
                      ({"zero_fraction": "0.1"}, r"zero_fraction must be in \[0, 1\]")):
        with pytest.raises(ValueError, match=match):
            random_instance(**{"seed": 1, **kw})
    assert random_instance(np.int64(1), n_jobs=np.int32(4)).digest == random_instance(1).digest
    with pytest.raises(IsADirectoryError, match="is a folder; give a file name"):
        save_instance(inst, tmp_path)
    # the messages named the temporary file (".x.json.1234.tmp") or said 'no attribute to_json'
    with pytest.raises(FileNotFoundError, match=r"save_instance: no folder .*nope \(make it first\)"):
        save_instance(inst, tmp_path / "nope" / "x.json")
    (tmp_path / "f").write_text("")
    with pytest.raises(NotADirectoryError, match=r"save_instance: .*f is a file, not a folder"):
        save_instance(inst, tmp_path / "f" / "x.json")
    with pytest.raises(TypeError, match="save_instance: instance must be an Instance .* got str"):
        save_instance(str(tmp_path / "x.json"), inst)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


LEARNERS = '''
import numpy as np
from offbench.solver import LearningSolver, Proposal


class Plain(LearningSolver):
    """A learner as the README describes one: start, decide, learn (no _solve)."""
    name = "plain-learner"

    def start(self, structure, seed):
        self.best = np.zeros(structure.n_layers, np.int8)

    def decide(self, frame, ctx):
        return Proposal(self.best)

    def learn(self, frame, decision, ctx):
        return {"kept": 1}


class Wordy(Plain):
    """Its learn returns a string, which stops a stream."""
    name = "wordy-learner"

    def learn(self, frame, decision, ctx):
        return "loss=0.1"
'''


def test_check_solver_runs_a_learner_as_the_learning_tracks_do(tmp_path):
    """check_solver called solve() on a learner without the static track: 'does not implement
    _solve' for every learner written as the README describes, and learn() never checked."""
    from offbench.discovery import resolve

    d = tmp_path / "learners"
    d.mkdir()
    (d / "learners.py").write_text(textwrap.dedent(LEARNERS))
    battery = [random_instance(5, n_jobs=2, layers=(2, 2))]
    assert check_solver(resolve("plain-learner", [str(d)]), instances=battery) == \
        ["params", "result", "feasible", "determinism", "optimality"]
    with pytest.raises(SolverCheckError, match=r"\[result\] wordy-learner-v1: .*learn failed: "
                                               r"TypeError: learn must return None or a dict"):
        check_solver(resolve("wordy-learner", [str(d)]), instances=battery)
