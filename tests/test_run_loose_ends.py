"""The runner's loose ends (issue 14): jobs batched in one sandbox message, the pool's builder
processes, ``families_dirs`` in a run spec, a dry run that builds nothing, a stream run's
references in the leaderboard summary, and ``offbench solve``'s exit status on a refusal."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from offbench.cli import main
from offbench.generators import random_instance
from offbench.run import InProcessExecutor, PoolExecutor, parse_spec, run
from offbench.run import units as units_mod
from offbench.run import sources as sources_mod
from offbench.run.plan import Job
from offbench.run.sandbox import Sandbox
from offbench.run.spec import SpecError
from offbench.store import Store
from tests.test_runner import FIXTURES


# ------------------------------------------------------------------ several jobs per message
def _job(i: int, solver: str, params: dict, kill_after: float | None = None) -> Job:
    from offbench.run.spec import param_hash

    inst = random_instance(i, n_devices=1, n_jobs=1, layers=(2, 2))
    return Job(kind="solve", index=i, source="s", digest=inst.digest, solver_id=solver,
               params=params, param_hash=param_hash(params), seed=0, time_limit=1.0,
               kill_after=kill_after, solver_dirs=(FIXTURES,), instance=inst)


def test_run_many_sends_jobs_in_one_message_and_answers_each_alone():
    """Jobs in one message: each is answered and timed alone; a job whose child dies ends the
    batch with its error row, and the job behind it stays queued, for a fresh sandbox."""
    box = Sandbox()
    try:
        jobs = [_job(0, "fx-sleep-v1", {"seconds": 0.0}, kill_after=60.0),
                _job(1, "fx-sleep-v1", {"seconds": 0.0}, kill_after=60.0)]
        got = list(box.run_many(jobs))
        assert [j.index for j, _ in got] == [0, 1]
        assert all(o.status == "feasible" and o.supervised_time is not None for _, o in got)
        assert not box.queue
    finally:
        box.close()
    box = Sandbox()
    try:  # a child that dies on its first job: that job's error ends the batch
        dying = [_job(2, "fx-die-v1", {}, kill_after=60.0), _job(3, "fx-die-v1", {}, kill_after=60.0)]
        got = list(box.run_many(dying))
        assert [(j.index, o.status) for j, o in got] == [(2, "error")]
        assert "worker process died" in got[0][1].error
        assert [j.index for j in box.queue] == [3]  # left for a fresh sandbox
        assert box.proc.poll() is not None
    finally:
        box.kill()
    # (a job over its hard limit in a batch: test_runner's pool test, whose sleeper runs in a
    # builder's sandbox, several jobs per message)


# ------------------------------------------------------------------ the pool's builders
SPEC = {"name": "builders", "solvers_dirs": [FIXTURES], "seeds": [0],
        "reference": {"mode": "none"},
        "sources": [{"kind": "family", "family": "dmro-v1[n_devices=2]", "name": "fam",
                     "seed": 4, "count": 12}],
        "solvers": ["fx-zero", {"id": "fx-random-best", "params": {"samples": 3}}]}


def test_pool_builds_and_judges_generated_members_in_its_builder_processes(tmp_path, monkeypatch):
    """On the pool, a family's members are built in the builder processes (the runner builds
    only member 0, when planning), judged there, and the rows equal an in-process run's."""
    built_here = []
    real = sources_mod.build_member
    monkeypatch.setattr(sources_mod, "build_member", lambda d: built_here.append(d) or real(d))
    spec = parse_spec(SPEC)
    with PoolExecutor(2) as ex:
        summary = run(spec, tmp_path / "pool.sqlite", executor=ex)
        assert len(ex._builders.builders) == 2
    assert summary.done == summary.planned == 24 and not summary.task_failures
    assert len(built_here) == 1
    monkeypatch.setattr(sources_mod, "build_member", real)
    run(spec, tmp_path / "local.sqlite", executor=InProcessExecutor())
    with Store.open_readonly(tmp_path / "pool.sqlite") as a, \
            Store.open_readonly(tmp_path / "local.sqlite") as b:
        assert a.quality_snapshot() == b.quality_snapshot()
        assert [(s["digest"], s["members"]) for s in a.sources()] == \
            [(s["digest"], s["members"]) for s in b.sources()]
        rows = a.results()
    assert all(r["refereed"] is True and r["flags"] == [] for r in rows)


def test_a_builder_that_dies_costs_its_tasks_only_and_a_resume_redoes_them(tmp_path, monkeypatch):
    """A builder killed mid-run: its tasks are reported as not run (no row), a fresh builder
    takes its place, and running again completes the store."""
    spec = parse_spec({**SPEC, "solvers": ["fx-zero"],
                       "sources": [{**SPEC["sources"][0], "count": 40}]})
    killed = []
    real_submit = units_mod.BuilderPool.submit

    def submit(self, units, settings):
        token = real_submit(self, units, settings)
        if not killed and token == 3:
            victim = self.builders[0]
            os.kill(victim.proc.pid, signal.SIGKILL)
            killed.append(victim.proc.pid)
        return token

    monkeypatch.setattr(units_mod.BuilderPool, "submit", submit)
    store = tmp_path / "r.sqlite"
    with PoolExecutor(2) as ex:
        first = run(spec, store, executor=ex)
    assert killed and first.task_failures and first.dropped
    assert "builder process died" in first.task_failures[0]
    assert first.done + first.dropped == 40
    monkeypatch.setattr(units_mod.BuilderPool, "submit", real_submit)
    with PoolExecutor(2) as ex:
        second = run(spec, store, executor=ex)
    assert second.ok and not second.dropped and second.already == first.done
    with Store.open_readonly(store) as s:
        assert s.count_results() == 40


# ------------------------------------------------------------------ families_dirs
def _campus_dir(tmp_path: Path) -> Path:
    from tests.test_families_dir import _campus

    d = tmp_path / "fams"
    d.mkdir()
    (d / "campus.toml").write_text(_campus(), encoding="utf-8")
    return d


def test_a_run_spec_names_its_families_dirs(tmp_path, monkeypatch, capsys):
    from offbench.families import PATH_ENV
    from offbench.run import load_spec_file

    monkeypatch.setenv(PATH_ENV, "")
    d = _campus_dir(tmp_path)
    cfg = tmp_path / "run.toml"
    cfg.write_text('families_dirs = ["fams"]\nreference = { mode = "none" }\n'
                   'solvers = ["all-device"]\n[[sources]]\nkind = "family"\n'
                   'family = "campus-v1"\ncount = 3\n')
    spec = parse_spec(load_spec_file(cfg))  # relative to the file; loaded here
    assert spec.families_dirs == [str(d.resolve())]
    assert spec.to_dict()["families_dirs"] == [str(d.resolve())]
    assert "families_dirs" not in parse_spec({"sources": SPEC["sources"],
                                              "solvers": ["all-device"]}).to_dict()
    summary = run(spec, tmp_path / "r.sqlite", executor=InProcessExecutor())
    assert summary.done == 3
    with pytest.raises(SpecError, match="families_dirs: .*nope: not a directory"):
        parse_spec({"families_dirs": [str(tmp_path / "nope")], "sources": SPEC["sources"],
                    "solvers": ["all-device"]})
    # --families-dir goes into the spec (what a Dask run's workers get)
    monkeypatch.setenv(PATH_ENV, "")
    assert main(["run", "--families-dir", str(d), "--family", "campus-v1", "--count", "2",
                 "--solver", "all-device", "--dry-run"]) == 0
    assert "2 jobs" in capsys.readouterr().out


# ------------------------------------------------------------------ a dry run builds nothing
def test_dry_run_builds_only_the_first_member(monkeypatch, capsys):
    built = []
    real = sources_mod.build_member
    monkeypatch.setattr(sources_mod, "build_member", lambda d: built.append(d) or real(d))
    assert main(["run", "--family", "dmro-v1", "--count", "100000", "--solver", "all-device",
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "100000 jobs" in out and "digest known once its members are built" in out
    assert len(built) == 1  # member 0: the generator's arguments checked


# ------------------------------------------------------------------ a stream run's references
def test_a_stream_runs_summary_counts_its_frames_references(tmp_path):
    from offbench.leaderboard import build
    from offbench.leaderboard.render import summary_lines

    spec = parse_spec({
        "name": "online-refs", "solvers_dirs": [FIXTURES], "time_limit": 5.0,
        "tracks": ["online"], "seeds": [0], "reference": {"mode": "auto"},
        "online": {"window": 3},
        "sources": [{"kind": "stream", "frames": 5,
                     "random": {"n_devices": 2, "n_jobs": 2, "layers": [2, 2]}}],
        "solvers": ["fx-zero"]})
    run(spec, tmp_path / "r.sqlite", executor=InProcessExecutor())
    with Store.open_readonly(tmp_path / "r.sqlite") as s:
        n_refs = len(s.references())
        board = build(s)
    assert n_refs == 5
    assert sum(board.provenance["references"].values()) == 5
    line = [x for x in summary_lines(board) if "references:" in x][0]
    assert "references: none" not in line and "5 " in line.split("references:")[1]


# ------------------------------------------------------------------ offbench solve's exit status
def test_solve_exits_3_when_the_solver_refuses(tmp_path, capsys):
    from offbench.instance import save_instance

    p = tmp_path / "i.json"
    save_instance(random_instance(4, n_jobs=2, layers=(2, 3), capacities=True), p)
    assert main(["solve", str(p), "--solver", "greedy"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "feasible"
    assert main(["solve", str(p), "--solver", "exhaustive", "--param", "max_layers=1"]) == 3
    row = json.loads(capsys.readouterr().out)
    assert row["status"] == "error" and row["error"].startswith("unsupported:")


# ---------------------------------------------------------------- builders or job by job
def test_the_pool_runs_a_generated_source_of_many_solvers_job_by_job(tmp_path):
    """A generated source whose jobs need more sandboxes at once than a builder keeps (here
    four solvers, references off) runs job by job on the pool's workers, as it did before the
    builders (a builder would start a fresh interpreter for most tasks); one solver with
    references goes to the builders. Both give the same quality columns as in-process."""
    from offbench.run.executors import SANDBOXES_KEPT

    def spec(solvers, reference):
        return parse_spec({"sources": [{"kind": "family", "family": "dmro-v1", "count": 3}],
                           "solvers": solvers, "reference": {"mode": reference}})

    assert SANDBOXES_KEPT == 3
    many = spec(["all-device", "random", "greedy", "neurosurgeon"], "none")
    one = spec(["greedy"], "auto")
    for s, name, uses_builders in ((many, "many", False), (one, "one", True)):
        with PoolExecutor(2) as ex:
            r = run(s, tmp_path / f"{name}.sqlite", executor=ex)
            started = ex._builders is not None and bool(ex._builders.builders)
        assert r.ok and r.done == r.planned and started is uses_builders, (name, started)
        run(s, tmp_path / f"{name}-0.sqlite", executor=InProcessExecutor())
        with Store.open_readonly(tmp_path / f"{name}.sqlite") as a, \
                Store.open_readonly(tmp_path / f"{name}-0.sqlite") as b:
            assert a.quality_snapshot() == b.quality_snapshot()


# ------------------------------------------------------------------ whose mistake an error row names
_PICKY = '''
from offbench.solver import Param, Proposal, Solver, SolverError
import numpy as np


class Picky(Solver):
    """Checks a pair of parameters together, in its constructor."""

    name = "picky"
    params = (Param("lo", int, 0), Param("hi", int, 1))

    def __init__(self, **kw):
        super().__init__(**kw)
        if self.lo >= self.hi:
            raise SolverError(f"picky: lo = {self.lo} must be below hi = {self.hi}")

    def _solve(self, inst, ctx):
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8))
'''


@pytest.mark.parametrize("where", ["in-process", "sandbox"])
def test_a_solver_error_inside_a_job_names_the_solver_not_the_runner(tmp_path, where):
    """A parameter mistake that only the solver's constructor sees (in the job) is the solver's:
    the row says ``solver picky-v1: SolverError: ...``, not ``runner: ...``."""
    from offbench.run.execute import execute

    (tmp_path / "picky.py").write_text(_PICKY)
    inst = random_instance(0, n_devices=1, n_jobs=1, layers=(2, 2))
    job = Job(kind="solve", index=0, source="s", digest=inst.digest, solver_id="picky-v1",
              params={"lo": 3, "hi": 1}, param_hash="x", seed=0, time_limit=1.0,
              kill_after=60.0, solver_dirs=(str(tmp_path),), instance=inst)
    if where == "in-process":
        out = execute(job)
    else:
        box = Sandbox()
        try:
            ((_, out),) = list(box.run_many([job]))
        finally:
            box.close()
    assert out.status == "error"
    assert out.error.startswith("solver picky-v1: SolverError: picky: lo = 3 must be below"), \
        out.error


def test_a_time_limit_past_the_platforms_clock_is_a_long_limit_not_a_traceback(tmp_path, capsys):
    """``setitimer`` refuses seconds past the platform's ``time_t``: ``--time-limit 1e12`` (and
    a spec's ``time_limit = 1e10``) ended in an OverflowError in-process. The alarm is now set
    to at most ``ALARM_MAX`` seconds."""
    from offbench.instance import save_instance
    from offbench.run.execute import call_with_alarm

    assert call_with_alarm(lambda: 7, 1e300) == (7, None)
    p = tmp_path / "i.json"
    save_instance(random_instance(4, n_jobs=2, layers=(2, 3)), p)
    for limit in ("1e12", "1e300"):
        assert main(["solve", str(p), "--solver", "greedy", "--time-limit", limit,
                     "--kill-after", limit]) == 0
        assert json.loads(capsys.readouterr().out)["status"] == "feasible"
    store = tmp_path / "s.sqlite"
    assert main(["run", "--family", "dmro-v1", "--count", "1", "--solver", "greedy",
                 "--reference", "none", "--time-limit", "1e12", "-j", "0", "--store", str(store),
                 "--quiet", "--no-leaderboard"]) == 0
    with Store.open_readonly(store) as s:
        assert [r["status"] for r in s.results()] == ["feasible"]


def test_the_pool_starts_the_builders_its_tasks_need_and_refuses_absurd_worker_counts(tmp_path):
    """``-j 5`` on a run of one instance started five builder processes; builders now start as
    tasks need them. ``-j 100000`` would have tried to start 100,000 interpreters."""
    one = {**SPEC, "sources": [{**SPEC["sources"][0], "count": 1}], "solvers": ["fx-zero"]}
    with PoolExecutor(5) as ex:
        summary = run(parse_spec(one), tmp_path / "one.sqlite", executor=ex)
        assert len(ex._builders.builders) == 1
    assert summary.done == summary.planned == 1
    with pytest.raises(Exception, match=r"-j 100000: at most \d+ worker processes here"):
        PoolExecutor(100000)
