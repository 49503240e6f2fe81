"""Dask executor: a real local cluster (scheduler and two worker processes on loopback, started
here) gives the same store as the in-process executor, hard limit included, and leaves no job
sandbox behind on its workers."""

from __future__ import annotations

import json
import os

import pytest

from offbench.cli import main
from offbench.run import InProcessExecutor, parse_spec, run
from offbench.store import Store
from tests.test_runner import FIXTURES
from tests.test_runner import SPEC as RUNNER_SPEC

import distributed  # noqa: E402,F401  (a dependency of offbench: dask[distributed])
import psutil  # noqa: E402  (installed with distributed)

#: The runner tests' failure battery (a crash, an invalid decision, one that ignores its time
#: limit, an infeasible one), without references to keep it short.
SPEC = {**RUNNER_SPEC, "name": "dask-test", "reference": {"mode": "none"}}


@pytest.fixture(scope="module")
def cluster():
    c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 host="127.0.0.1", dashboard_address=":0", silence_logs=40)
    try:
        yield c
    finally:
        c.close()


def _sandboxes(cluster) -> list:
    """The job sandboxes alive under the cluster's worker processes."""
    with distributed.Client(cluster) as client:
        pids = client.run(os.getpid).values()
    out = []
    for pid in pids:
        for p in psutil.Process(pid).children(recursive=True):
            try:
                if "_worker_main" in " ".join(p.cmdline()):
                    out.append(p.pid)
            except psutil.NoSuchProcess:
                pass
    return out


def test_dask_cluster_store_equals_in_process_store(cluster, tmp_path):
    cfg = tmp_path / "run.yaml"  # YAML reads JSON
    cfg.write_text(json.dumps(SPEC))
    dask_store = tmp_path / "dask.sqlite"
    assert main(["run", str(cfg), "--store", str(dask_store), "--scheduler",
                 cluster.scheduler_address, "--quiet", "--no-leaderboard"]) == 0
    assert _sandboxes(cluster) == []  # stopped when the run ended: none outlives it
    local = tmp_path / "local.sqlite"
    run(parse_spec(SPEC), local, executor=InProcessExecutor())
    with Store.open_readonly(dask_store) as a, Store.open_readonly(local) as b:
        assert a.count_results() == 4 * (2 + 2 + 1 + 1 + 1) + 1
        assert a.quality_snapshot() == b.quality_snapshot()
        sleep_rows = [r for r in a.results() if r["solver_id"] == "fx-sleep-v1"]
        workers = {r["worker"] for r in a.results() if r["worker"]}
    assert sleep_rows and all(r["status"] == "timeout" and r["info"]["stopped_by"].startswith("SIGKILL")
                              for r in sleep_rows)
    assert len(workers) >= 2  # jobs really ran in several worker sandboxes


def test_unreachable_scheduler_is_a_clear_error(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'solvers_dirs = ["{FIXTURES}"]\nreference = {{ mode = "none" }}\n'
                   '[[sources]]\nkind = "random"\ncount = 1\n[[solvers]]\nid = "fx-zero"\n')
    rc = main(["run", str(cfg), "--store", str(tmp_path / "r.sqlite"), "--scheduler",
               "tcp://127.0.0.1:9", "--quiet"])
    assert rc == 2
    assert "--scheduler tcp://127.0.0.1:9: cannot connect" in capsys.readouterr().err
