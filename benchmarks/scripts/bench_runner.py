"""Runner overhead per job: a trivial solver over many tiny instances (goal: under 2 ms per job).

What is timed is the job phase of :func:`offbench.run.run`: from the first job handed to the
executor to the last row committed (dispatch, the solver call, scoring, one SQLite transaction
per row, progress), divided by the number of jobs; beside the wall time, the CPU time of this
process over that phase (in-process: all of it; on the pool: the runner's own share), the robust
number on a loaded machine. Planning, writing the instances and starting
worker processes are one-off costs and are reported apart. The trivial solver is ``fx-zero``
from ``tests/fixtures_solvers`` (everything on the devices).

Run as a script (medians of a few repeats, all in one run, since the machine is noisy)::

    python benchmarks/scripts/bench_runner.py [--jobs 400] [--repeats 3] [-j 2]

The asv class :class:`RunnerOverhead` tracks the same numbers (``track_*``, milliseconds).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

FIXTURES = str(Path(__file__).resolve().parents[2] / "tests" / "fixtures_solvers")


def _spec(n_jobs: int):
    from offbench.run import parse_spec

    return parse_spec({
        "name": "bench-runner", "solvers_dirs": [FIXTURES], "time_limit": 10.0, "seeds": [0],
        "reference": {"mode": "none"},
        "sources": [{"kind": "random", "name": "tiny", "count": n_jobs, "n_devices": 1,
                     "n_jobs": 1, "layers": [1, 3]}],
        "solvers": ["fx-zero"],
    })


class _Clock:
    """A progress sink that notes when the job phase starts and ends."""

    def __init__(self):
        self.t_plan = self.t_end = self.c_plan = self.c_end = None

    def plan(self, **kw):
        self.t_plan = time.perf_counter()
        self.c_plan = time.process_time()

    def started(self, job):
        pass

    def finished(self, job, row):
        pass

    def dropped(self, job, why=None):
        pass

    def present(self, n):
        pass

    def more(self, n):
        pass

    def close(self, summary):
        self.t_end = time.perf_counter()
        self.c_end = time.process_time()


def measure(executor, n_jobs: int, workdir: Path, tag: str) -> dict:
    """One run of ``n_jobs`` trivial jobs into a fresh store; times in seconds."""
    from offbench.run import plan, run
    from offbench.store import Store

    spec = _spec(n_jobs)
    t0 = time.perf_counter()
    pl = plan(spec)
    clock = _Clock()
    path = workdir / f"{tag}.sqlite"
    summary = run(spec, path, executor=executor, progress=clock, plan_=pl)
    total = time.perf_counter() - t0
    with Store.open_readonly(path) as s:
        rows = s.results()
    assert summary.done == n_jobs and len(rows) == n_jobs
    assert all(r["status"] == "feasible" and set(r["decision"]) == {"0"} for r in rows)
    solver_time = sum(r["wall_time"] for r in rows)
    phase = clock.t_end - clock.t_plan
    return {"per_job_ms": 1e3 * phase / n_jobs,
            "per_job_minus_solver_ms": 1e3 * (phase - solver_time) / n_jobs,
            # CPU time of this process over the job phase (robust on a loaded machine):
            # in-process everything, on the pool the runner's own share
            "runner_cpu_ms": 1e3 * (clock.c_end - clock.c_plan) / n_jobs,
            "setup_s": clock.t_plan - t0, "total_s": total}


def bench(n_jobs: int = 400, repeats: int = 3, workers: int = 2) -> dict:
    """Medians over ``repeats`` for the in-process executor and a warm pool."""
    from offbench.run import InProcessExecutor, PoolExecutor

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ex = InProcessExecutor()
        measure(ex, 20, tmp, "warm-inproc")  # imports, compiled kernels
        runs = [measure(ex, n_jobs, tmp, f"inproc-{i}") for i in range(repeats)]
        out["in-process"] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        t0 = time.perf_counter()
        with PoolExecutor(workers) as pool:
            measure(pool, 4 * workers, tmp, "warm-pool")  # starts and warms the workers
            start = time.perf_counter() - t0
            runs = [measure(pool, n_jobs, tmp, f"pool-{i}") for i in range(repeats)]
        out[f"pool -j {workers}"] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        out[f"pool -j {workers}"]["worker_start_s"] = start
    return out


class RunnerOverhead:
    """asv: runner overhead per job (ms) for a trivial solver, in-process and pool."""

    timeout = 300

    def setup_cache(self):
        return bench(n_jobs=200, repeats=1, workers=2)

    def track_in_process_ms_per_job(self, result):
        return result["in-process"]["per_job_ms"]

    def track_pool_ms_per_job(self, result):
        return result["pool -j 2"]["per_job_ms"]

    track_in_process_ms_per_job.unit = "ms"
    track_pool_ms_per_job.unit = "ms"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=400, help="jobs per measured run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("-j", "--workers", type=int, default=2)
    args = ap.parse_args(argv)
    res = bench(args.jobs, args.repeats, args.workers)
    print(f"runner overhead, trivial solver (fx-zero), {args.jobs} jobs per run, "
          f"median of {args.repeats}:")
    for name, r in res.items():
        extra = f", worker start {r['worker_start_s']:.2f} s" if "worker_start_s" in r else ""
        print(f"  {name:12s} {r['per_job_ms']:.3f} ms/job (job phase; "
              f"{r['per_job_minus_solver_ms']:.3f} ms without the solver's own time; "
              f"{r['runner_cpu_ms']:.3f} ms of this process's CPU); "
              f"one-off setup {r['setup_s']:.2f} s{extra}")
    ratio = res[f"pool -j {args.workers}"]["per_job_ms"] / res["in-process"]["per_job_ms"]
    print(f"  pool / in-process per job: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
