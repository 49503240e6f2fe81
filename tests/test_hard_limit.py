"""A solver that ignores its time limit costs each job its hard limit, not its import allowance.

Before the timed solve of a sandbox's (or the in-process executor's) first job of a solver come
its imports and an untimed warm-up solve, allowed ``kill_after +``
:data:`~offbench.run.execute.IMPORT_ALLOWANCE` (300 s: a cold JIT cache). A solver that hangs
in its warm-up used to spend that on every job (a fresh sandbox after each kill warms up again:
312 s a job at ``--time-limit 1``), under a row that said ``kill_after=12 s``. The runner now
remembers the solver: its later jobs skip the warm-up and get no allowance, and the first row
says what stopped it, its wall time the time it ran. ``offbench solve`` holds a hard limit too.
The allowance is lowered here so that each test takes seconds.
"""

from __future__ import annotations

import importlib
import json
import re
import time

import pytest

from offbench.cli import main
from offbench.run import InProcessExecutor, PoolExecutor
from offbench.run import units as units_mod
from tests.test_run_loose_ends import _job
from tests.test_runner import FIXTURES

# (offbench.run.execute is also the name of a function that offbench.run exports)
execute_mod = importlib.import_module("offbench.run.execute")

ALLOWANCE = 2.0
KILL = 0.5
SLEEPER = ("fx-sleep-v1", {"seconds": 30.0})  # sleeps 30 s, in its warm-up too


@pytest.fixture(autouse=True)
def _small_allowance(monkeypatch):
    monkeypatch.setattr(execute_mod, "IMPORT_ALLOWANCE", ALLOWANCE)
    # what this process learned of solvers stopped before their timed solve, and which it has
    # warmed up (earlier test files run fx-sleep in-process too): this test's own
    monkeypatch.setattr(execute_mod, "_STOPPED_EARLY", set())
    monkeypatch.setattr(execute_mod, "_WARMED", set())


def _jobs(n: int):
    return [_job(i, *SLEEPER, kill_after=KILL) for i in range(n)]


def _seconds_said(error: str) -> float:
    """The seconds after which a row's error says its job was stopped."""
    m = re.search(r"= ([0-9.]+) s", error) or re.search(r"kill_after=([0-9.]+) s", error)
    return float(m.group(1))


def _check(rows: list, took: float) -> None:
    """The rows of a sleeper's jobs. Wall times are checked from below only (on a loaded
    machine the supervising process can be late to kill: 5.9 s instead of 2.5 under two busy
    loops); that the later jobs got no allowance is what the runner remembers (and says)."""
    first, *later = rows
    assert all(o.status == "timeout" and o.decision is None for o in rows)
    # the first: stopped in its warm-up, at kill_after + allowance, and its row says so
    assert "warm-up" in first.error and "import allowance" in first.error, first.error
    assert _seconds_said(first.error) == pytest.approx(KILL + ALLOWANCE)
    assert first.wall_time >= KILL + ALLOWANCE - 0.05
    # the later ones: their hard limit only (no warm-up, no allowance), as their rows say
    for o in later:
        assert f"kill_after={KILL:g} s" in o.error, o.error
        assert _seconds_said(o.error) == pytest.approx(KILL)
        assert o.wall_time >= KILL - 0.05, (o.wall_time, o.error)
    # what the runner remembers: this solver's jobs get no allowance any more (before: each
    # job was allowed, and took, kill_after + allowance)
    assert execute_mod.import_allowance(_jobs(1)[0]) == 0.0
    assert took >= KILL + ALLOWANCE + (len(rows) - 1) * KILL - 0.1


def test_in_process_a_solver_stopped_in_its_warm_up_is_not_warmed_up_again():
    t0 = time.perf_counter()
    rows = [o for _, o in InProcessExecutor().run(_jobs(3), lambda j: None)]
    _check(rows, time.perf_counter() - t0)
    assert all("SIGALRM" in o.info["stopped_by"] for o in rows)


def test_pool_a_fresh_sandbox_after_a_kill_in_the_warm_up_gets_no_allowance():
    t0 = time.perf_counter()
    with PoolExecutor(1) as ex:
        got = list(ex.run(_jobs(3), lambda j: None))
        took = time.perf_counter() - t0  # (closing waits for the spare sandbox to start)
    assert [j.index for j, _ in got] == [0, 1, 2]
    _check([o for _, o in got], took)


def test_builder_and_dask_sandboxes_remember_it_too():
    """A builder's (and a Dask worker's) sandboxes run several jobs per message
    (:func:`~offbench.run.units._dask_group`); the fresh sandbox after a kill gets the rest."""
    t0 = time.perf_counter()
    got = list(units_mod._dask_group(_jobs(3)))
    assert [j.index for j, _ in got] == [0, 1, 2]
    _check([o for _, o in got], time.perf_counter() - t0)


def test_a_later_solve_is_timed_cold_and_says_so():
    """A job of a solver remembered as stopped before its timed solve, that finishes: no
    warm-up, no allowance, and its row says that it was timed cold (in a sandbox, told so by
    the runner; in-process, from this process's memory)."""
    from offbench.run.sandbox import Sandbox

    job = _job(0, "fx-sleep-v1", {"seconds": 0.001}, kill_after=60.0)
    assert execute_mod.import_allowance(job) == ALLOWANCE
    execute_mod.note_stopped_before_start(job)
    assert execute_mod.import_allowance(job) == 0.0
    box = Sandbox()
    try:
        outs = [box.run_blocking(job)]
    finally:
        box.close()
    outs.append(execute_mod.execute_with_alarm(execute_mod.sandbox_job(job, copy=True)))
    for out in outs:
        assert out.status == "feasible"
        assert "skipped" in out.info["warm_up"], out.info


# ------------------------------------------------------------------ idle in the warm-up
def test_a_sandbox_idle_in_its_warm_up_is_stopped_without_waiting_out_the_allowance(monkeypatch):
    """A sandbox past ``kill_after`` and still before its timed solve, whose process used
    (almost) no CPU over the idle window, is hung rather than compiling: stopped then, not at
    ``kill_after`` + the allowance, and its row says why; the runner remembers its solver as
    before. (Before: the sleeper's first job ran out the whole allowance, here 60 s.)"""
    from offbench.run.sandbox import Sandbox

    monkeypatch.setattr(execute_mod, "IMPORT_ALLOWANCE", 60.0)
    monkeypatch.setattr(Sandbox, "IDLE_WINDOW", 1.0)
    def pool(jobs):
        with PoolExecutor(1) as ex:
            return list(ex.run(jobs, lambda j: None))

    for run in (pool, lambda jobs: list(units_mod._dask_group(jobs))):
        monkeypatch.setattr(execute_mod, "_STOPPED_EARLY", set())
        t0 = time.perf_counter()
        got = run(_jobs(2))
        took = time.perf_counter() - t0
        (_, first), (_, second) = got
        assert first.status == "timeout" and first.decision is None
        assert "sat idle" in first.error and "import allowance 60 s" in first.error, first.error
        assert first.info["stopped_idle"]["window"] >= 1.0
        assert first.info["stopped_idle"]["cpu"] < 0.02 * first.info["stopped_idle"]["window"]
        assert first.wall_time >= 1.0  # (the window counts from a second after the start)
        assert f"kill_after={KILL:g} s" in second.error and "sat idle" not in second.error
        assert took < 30.0, took  # (not the 60 s allowance; loose for a loaded machine)


def test_a_busy_warm_up_is_not_taken_for_idle(monkeypatch):
    """A warm-up that keeps its core busy (as a cold compile does) is given its allowance."""
    from offbench.run.sandbox import Sandbox

    monkeypatch.setattr(Sandbox, "IDLE_WINDOW", 0.5)
    job = _job(0, "fx-sleep-v1", {"seconds": 30.0, "busy": True}, kill_after=KILL)
    with PoolExecutor(1) as ex:
        ((_, out),) = list(ex.run([job], lambda j: None))
    assert "sat idle" not in out.error and "stopped_idle" not in out.info, out.error
    assert "import allowance" in out.error and _seconds_said(out.error) == pytest.approx(
        KILL + ALLOWANCE)
    assert out.wall_time >= KILL + ALLOWANCE - 0.05


# ------------------------------------------------------------------ offbench solve
@pytest.fixture
def inst_path(tmp_path):
    from offbench.generators import random_instance

    p = tmp_path / "i.json"
    p.write_text(random_instance(0, n_devices=1, n_jobs=1, layers=(2, 2)).to_json())
    return p


def test_solve_stops_a_sleeping_solver_at_its_hard_limit(inst_path, capsys):
    t0 = time.perf_counter()
    code = main(["solve", str(inst_path), "--solver", "fx-sleep", "--param", "seconds=30",
                 "--solvers-dir", FIXTURES, "--time-limit", "0.1", "--kill-after", "0.4"])
    took = time.perf_counter() - t0
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and took < 15  # (the solver sleeps 30 s; the bound leaves room for load)
    assert out["status"] == "timeout" and out["decision"] is None and out["cost"] is None
    assert "kill_after=0.4 s" in out["error"] and "time limit 0.1 s" in out["error"]
    assert 0.35 <= out["wall_time"] < 10
    assert out["solver"] == "fx-sleep-v1"


def test_solve_kill_after_defaults_as_a_runs(inst_path, capsys, monkeypatch):
    """Without --kill-after: the track's default (2 * time limit + 10 s, shortened here) plus
    the import allowance (a cold solve compiles inside it; 2 s here)."""
    from offbench.tracks.base import Track

    seen = []

    def short(self, time_limit, n):
        seen.append(time_limit)
        return 0.4

    monkeypatch.setattr(Track, "default_kill_after", short)
    code = main(["solve", str(inst_path), "--solver", "fx-sleep", "--param", "seconds=30",
                 "--solvers-dir", FIXTURES, "--time-limit", "0.1"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and seen == [0.1]
    assert out["status"] == "timeout" and "kill_after=0.4 s" in out["error"]
    assert "import allowance 2 s: 2.4 s in all" in out["error"]
    assert out["wall_time"] >= 2.4 - 0.05
    # a solve that finishes in time is untouched
    code = main(["solve", str(inst_path), "--solver", "fx-sleep", "--param", "seconds=0",
                 "--solvers-dir", FIXTURES, "--time-limit", "0.1"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["status"] == "feasible" and out["decision"] is not None


def test_solve_refuses_a_bad_kill_after(inst_path, capsys):
    code = main(["solve", str(inst_path), "--solver", "fx-sleep", "--solvers-dir", FIXTURES,
                 "--kill-after", "-1"])
    err = capsys.readouterr().err
    assert code == 2 and "seconds > 0" in err and "Traceback" not in err
