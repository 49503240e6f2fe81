"""Dask executor: a real local cluster (scheduler and two worker processes on loopback, started
here) gives the same store as the in-process and pool executors, hard limit included."""

from __future__ import annotations

from pathlib import Path

import pytest

from offbench.cli import main
from offbench.runner import InProcessExecutor, parse_spec, run
from offbench.store import Store

distributed = pytest.importorskip("distributed")

FIXTURES = str(Path(__file__).parent / "fixtures_solvers")

SPEC = {
    "name": "dask-test",
    "solvers_dirs": [FIXTURES],
    "time_limit": 0.3,
    "kill_after": 1.5,
    "seeds": [0, 1],
    "reference": {"mode": "none"},
    "sources": [{"kind": "random", "name": "tiny", "count": 3, "n_jobs": 2, "capacities": True},
                {"kind": "random", "name": "one", "seed": 7, "count": 1, "n_jobs": 2}],
    "solvers": ["fx-zero", {"id": "fx-random-best", "params": {"samples": 5}},
                {"id": "fx-raise", "seeds": [0]}, {"id": "fx-invalid", "seeds": [0]},
                {"id": "fx-sleep", "seeds": [0], "sources": ["one"]}],
}


@pytest.fixture(scope="module")
def cluster():
    c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 host="127.0.0.1", dashboard_address=":0", silence_logs=40)
    try:
        yield c
    finally:
        c.close()


def test_dask_cluster_store_equals_in_process_store(cluster, tmp_path):
    cfg = tmp_path / "run.toml"
    solvers = "\n".join(
        f'[[solvers]]\nid = "{s}"' if isinstance(s, str) else
        f'[[solvers]]\nid = "{s["id"]}"\nseeds = {s.get("seeds", [0, 1])}\n'
        + (f'params = {{ samples = {s["params"]["samples"]} }}\n' if "params" in s else "")
        + (f'sources = {s["sources"]}\n'.replace("'", '"') if "sources" in s else "")
        for s in SPEC["solvers"])
    cfg.write_text(
        f'name = "dask-test"\nsolvers_dirs = ["{FIXTURES}"]\ntime_limit = 0.3\nkill_after = 1.5\n'
        'seeds = [0, 1]\nreference = { mode = "none" }\n'
        '[[sources]]\nkind = "random"\nname = "tiny"\ncount = 3\nn_jobs = 2\ncapacities = true\n'
        '[[sources]]\nkind = "random"\nname = "one"\nseed = 7\ncount = 1\nn_jobs = 2\n'
        + solvers + "\n")
    dask_store = tmp_path / "dask.sqlite"
    assert main(["run", str(cfg), "--store", str(dask_store), "--scheduler",
                 cluster.scheduler_address, "--quiet", "--no-leaderboard"]) == 0
    local = tmp_path / "local.sqlite"
    run(parse_spec(SPEC), local, executor=InProcessExecutor())
    with Store.open_readonly(dask_store) as a, Store.open_readonly(local) as b:
        assert a.count_results() == 4 * (2 + 2 + 1 + 1) + 1
        assert a.quality_snapshot() == b.quality_snapshot()
        sleep_rows = [r for r in a.results() if r["solver_id"] == "fx-sleep-v1"]
        workers = {r["worker"] for r in a.results() if r["worker"]}
    assert all(r["status"] == "timeout" and r["info"]["stopped_by"].startswith("SIGKILL")
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
