"""A streamed run on a Dask cluster (issue 14): members travel as descriptors and are built on
the workers, and a worker killed mid-run costs nothing: its tasks run again elsewhere, and the
store ends with every job exactly once and the quality columns of a local run."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from offbench.progress import Progress
from offbench.run import DaskExecutor, InProcessExecutor, parse_spec, run
from offbench.run import sources as sources_mod
from offbench.store import Store
from tests.test_runner import FIXTURES

import distributed  # noqa: E402  (a dependency of offbench: dask[distributed])

N = 24
SPEC = {
    "name": "dask-kill-test",
    "solvers_dirs": [FIXTURES],
    "seeds": [0],
    "time_limit": 5.0,
    "reference": {"mode": "auto", "time_limit": 20.0},
    "sources": [{"kind": "random", "name": "tiny", "seed": 2, "count": N, "n_devices": 2,
                 "n_jobs": 2, "layers": [1, 3], "capacities": True}],
    "solvers": ["fx-zero", {"id": "fx-random-best", "params": {"samples": 4, "sleep": 0.05}}],
}


class _Counting(Progress):
    def __init__(self):
        super().__init__("quiet")
        self.count = 0

    def finished(self, job, row):
        super().finished(job, row)
        self.count += 1


@pytest.fixture
def cluster():
    c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 host="127.0.0.1", dashboard_address=":0", silence_logs=50)
    try:
        yield c
    finally:
        c.close()


def test_worker_killed_mid_run_loses_nothing_and_duplicates_nothing(cluster, tmp_path,
                                                                    monkeypatch):
    built_here = []
    real = sources_mod.build_member
    monkeypatch.setattr(sources_mod, "build_member", lambda d: built_here.append(d) or real(d))
    store = tmp_path / "dask.sqlite"
    progress = _Counting()
    with distributed.Client(cluster) as client:
        before = set(client.run(os.getpid).values())
    killed = []

    def kill_one():
        deadline = time.monotonic() + 120
        while progress.count < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        pid = sorted(before)[0]
        os.kill(pid, signal.SIGKILL)  # the worker process, its sandboxes die with it
        killed.append(pid)

    with DaskExecutor(cluster.scheduler_address) as ex:
        ex.JOBS_PER_TASK = 4  # two members per task: many tasks, some on the killed worker
        t = threading.Thread(target=kill_one, daemon=True)
        t.start()
        summary = run(parse_spec(SPEC), store, executor=ex, progress=progress)
        t.join(timeout=5)
    assert killed, "the run ended before a worker could be killed"
    assert summary.done == summary.planned == 2 * N and not summary.task_failures
    assert len(built_here) == 1  # member 0, checked when planning: the rest built on workers
    local = tmp_path / "local.sqlite"
    run(parse_spec(SPEC), local, executor=InProcessExecutor())
    with Store.open_readonly(store) as a, Store.open_readonly(local) as b:
        assert a.count_results() == 2 * N  # every job exactly once
        assert a.quality_snapshot() == b.quality_snapshot()
        assert len(a.references()) == N
        assert [(s["name"], s["digest"], s["members"]) for s in a.sources()] == \
            [(s["name"], s["digest"], s["members"]) for s in b.sources()]
        workers = {r["worker"].rsplit(":", 1)[0] for r in a.results()}
    assert workers  # rows say where they ran


def test_workers_load_the_specs_families_dirs(cluster, tmp_path, monkeypatch):
    """A family from a folder of the spec's ``families_dirs`` (``--families-dir``) is built on
    Dask workers that were started without it (``$OFFBENCH_FAMILIES_PATH`` is the runner's)."""
    from offbench.families import PATH_ENV
    from tests.test_families_dir import _campus

    monkeypatch.setenv(PATH_ENV, "")  # restored after the test: the folder is loaded below
    fams = tmp_path / "fams"
    fams.mkdir()
    (fams / "campus.toml").write_text(_campus(), encoding="utf-8")
    spec = parse_spec({"name": "campus-on-dask", "families_dirs": [str(fams)],
                       "reference": {"mode": "none"}, "solvers": ["all-device", "greedy"],
                       "sources": [{"kind": "family", "family": "campus-v1", "seed": 1,
                                    "count": 6, "name": "campus"}]})
    assert spec.families_dirs == [str(fams.resolve())]
    with distributed.Client(cluster) as client:
        seen = set(client.run(lambda: os.environ.get(PATH_ENV, "")).values())
    assert str(fams) not in "".join(seen)  # the workers were started without the folder
    store = tmp_path / "campus.sqlite"
    with DaskExecutor(cluster.scheduler_address) as ex:
        summary = run(spec, store, executor=ex)
    assert summary.done == summary.planned == 12 and not summary.task_failures
    local = tmp_path / "local.sqlite"
    run(spec, local, executor=InProcessExecutor())
    with Store.open_readonly(store) as a, Store.open_readonly(local) as b:
        assert a.quality_snapshot() == b.quality_snapshot()
