"""Runs at scale (issue 14): per-job cost, peak memory and leaderboard time by run size.

For each size N (jobs), through the public command line, as a user runs it::

    offbench run --family dmro-v1 --count N --solver all-device --reference none -j J --store S
    offbench leaderboard --store S --format csv -o FILE

with ``J`` = 0 (in-process) and 2 (a pool of two workers). Reported per run: wall time, the
load average (1 min) before and after it, the marginal cost per job (the wall time above a 200-job run of the same kind, divided by the extra
jobs: start-up, imports and the pool's start are left out), and the peak memory of the whole
process tree (the sum of the resident sizes of the command and every process under it, sampled
every 20 ms). For the leaderboard: its wall time and peak memory. Then the pool's speed-up over
in-process per size (the ratio of the marginal wall times per job).

A second part measures the leaderboard on a synthetic store of ``--rows`` result rows (default
two million; goal: under 30 s and 1 GB), written straight into the store's schema with
``executemany`` (no solving): one static source of ``rows / solvers`` dmro-v1-like instances,
``--solvers`` solvers (default 8), one seed, a mix of statuses (optimal, feasible, timeouts,
errors, refusals, flagged rows) and proven references.

    python benchmarks/scripts/bench_scale.py                    # N = 1e4 and 1e5, 2e6 rows
    python benchmarks/scripts/bench_scale.py --million          # N = 1e6 too (hours on 2 cores)
    python benchmarks/scripts/bench_scale.py --sizes 10000 --rows 0   # one size, no synthetic store
    python benchmarks/scripts/bench_scale.py --skip-runs --rows 2000000

Numbers print as a table and, with ``--json FILE``, as JSON. The stores are written in a
temporary folder (``--keep DIR`` keeps them there).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

BASELINE_JOBS = 200


def measure(cmd: list[str], env=None) -> dict:
    """Run ``cmd``; its wall time, the CPU time of its process tree (user + system: on a busy
    machine, closer to what a quiet one takes than the wall time) and the peak of the summed
    resident memory of its process tree."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peak = [0]
    done = threading.Event()

    def watch():
        try:
            root = psutil.Process(proc.pid)
        except psutil.Error:
            return
        while not done.is_set():
            total = 0
            try:
                procs = [root] + root.children(recursive=True)
            except psutil.Error:
                break
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            peak[0] = max(peak[0], total)
            done.wait(0.02)

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    th.join()
    if proc.returncode != 0:
        sys.stderr.write(err.decode(errors="replace")[-3000:])
        raise SystemExit(f"bench_scale: {' '.join(map(str, cmd))} exited with {proc.returncode}")
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru.ru_utime - ru0.ru_utime) + (ru.ru_stime - ru0.ru_stime)
    # The machine's load average (1 min) before and after: on a shared machine the wall
    # times say little without it.
    return {"wall_s": wall, "cpu_s": cpu, "peak_mb": peak[0] / 2**20,
            "load": (load0, os.getloadavg()[0])}


def offbench(*args) -> list[str]:
    return [sys.executable, "-m", "offbench", *map(str, args)]


def run_size(n: int, workers: int, folder: Path) -> dict:
    store = folder / f"run-{n}-j{workers}.sqlite"
    for old in (store, *(store.with_name(store.name + x) for x in ("-wal", "-shm", ".lock"))):
        if old.exists():  # a kept store would be resumed: nothing left to run
            old.unlink()
    cmd = offbench("run", "--family", "dmro-v1", "--count", n, "--solver", "all-device",
                   "--reference", "none", "-j", workers, "--store", store, "--quiet",
                   "--no-leaderboard")
    out = measure(cmd)
    out["store"] = str(store)
    return out


def leaderboard(store: Path, folder: Path) -> dict:
    return measure(offbench("leaderboard", "--store", store, "--format", "csv",
                            "-o", folder / (Path(store).stem + ".csv")))


# ------------------------------------------------------------------------------ synthetic store
def synthetic_store(path: Path, rows: int, solvers: int = 8, seed: int = 0) -> dict:
    """Write a store of ``rows`` static result rows straight into the schema (no solving)."""
    import numpy as np

    from offbench import __version__
    from offbench.store import RESULT_COLUMNS, Store, canonical_json, now

    n_inst = max(1, rows // solvers)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    with Store.open(path) as st:
        run_id = st.begin_run(spec={"name": "synthetic", "rows": rows}, spec_hash="synthetic",
                              offbench_version=__version__, offbench_commit=None,
                              machine={"synthetic": True}, libraries={}, executor="synthetic",
                              command="bench_scale.py")
        digests = [hashlib.sha256(f"synthetic-{seed}-{i}".encode()).hexdigest() for i in range(n_inst)]
        digests.sort()
        src_digest = hashlib.sha256("".join(digests).encode()).hexdigest()
        conn = st.conn
        ad = rng.uniform(1.0, 3.0, n_inst)
        ref = ad / rng.uniform(1.0, 2.0, n_inst)
        stamp = now()
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute("INSERT INTO sources (name, digest, kind, spec, size) VALUES (?,?,?,?,?)",
                           ("synthetic-dmro", src_digest, "family",
                            canonical_json({"family": "dmro-v1", "count": n_inst}), n_inst))
        sid = cur.lastrowid
        conn.executemany("INSERT INTO source_members VALUES (?,?,?)",
                         ((sid, i, d) for i, d in enumerate(digests)))
        conn.executemany("INSERT INTO instances VALUES (?,?,?,?,?,?,?,?,?)",
                         ((d, f"synthetic/{i}", 10, 10, 50, 0, 0, float(ad[i]), b"{}")
                          for i, d in enumerate(digests)))
        conn.executemany("INSERT INTO refs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                         ((d, float(ref[i]), float(ref[i]), "milp", 0.0, "milp-v1", 0.01, None,
                           "computed", "{}", __version__, stamp) for i, d in enumerate(digests)))
        conn.execute("COMMIT")
        names = [f"synthetic-{k}-v1" for k in range(solvers)]
        hashes = [hashlib.sha256(n.encode()).hexdigest() for n in names]
        order = sorted(range(solvers), key=lambda k: (names[k], hashes[k]))
        cols = ", ".join(RESULT_COLUMNS)
        q = f"INSERT INTO results ({cols}) VALUES ({', '.join('?' * len(RESULT_COLUMNS))})"
        config = canonical_json({"reference": "auto", "time_limit": 10.0})
        batch = 20_000
        for lo in range(0, n_inst, batch):
            hi = min(n_inst, lo + batch)
            m = hi - lo
            quality = rng.uniform(1.0, 1.3, (m, solvers))
            wall = rng.lognormal(-7, 1, (m, solvers))
            u = rng.random((m, solvers))
            out = []
            for i in range(m):
                d = digests[lo + i]
                for k in order:
                    cost = float(ref[lo + i] * quality[i, k])
                    status, feasible, ci, err, flags, dec = "feasible", 1, 0, None, "[]", "0" * 50
                    if u[i, k] < 0.02:
                        status, feasible, ci, cost, dec, err = "error", None, 1, None, None, "crash"
                    elif u[i, k] < 0.03:
                        status, feasible, ci, cost, dec, err = "error", None, None, None, None, "unsupported: synthetic"
                    elif u[i, k] < 0.05:
                        status = "timeout"
                    elif u[i, k] < 0.055:
                        flags = '["claimed_optimal"]'
                    elif u[i, k] > 0.9:
                        status = "optimal"
                    ratio = None if cost is None else cost / float(ref[lo + i])
                    row = {"instance_digest": d, "solver_id": names[k], "param_hash": hashes[k],
                           "seed": 0, "track": "static", "track_config": config,
                           "offbench_version": __version__, "params": "{}", "status": status,
                           "cost": cost, "feasible": feasible, "ref_cost": float(ref[lo + i]),
                           "ratio": ratio, "counted_infeasible": ci, "bound": None, "gap": None,
                           "wall_time": float(wall[i, k]), "evaluations": 1, "decision": dec,
                           "error": err, "info": "{}", "run_id": run_id, "worker": "synthetic",
                           "finished_at": stamp, "flags": flags, "refereed": 1}
                    out.append(tuple(row[c] for c in RESULT_COLUMNS))
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(q, out)
            conn.execute("COMMIT")
        st.end_run(run_id, "complete")
    return {"rows": n_inst * solvers, "instances": n_inst, "solvers": solvers,
            "write_s": time.perf_counter() - t0, "bytes": os.path.getsize(path)}


# ------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000", help="run sizes in jobs (default: %(default)s)")
    ap.add_argument("--million", action="store_true", help="also 1,000,000 jobs")
    ap.add_argument("--workers", default="0,2", help="-j values (default: %(default)s)")
    ap.add_argument("--skip-runs", action="store_true", help="only the synthetic leaderboard")
    ap.add_argument("--rows", type=int, default=2_000_000,
                    help="result rows of the synthetic store (0: none; default: %(default)s)")
    ap.add_argument("--solvers", type=int, default=8, help="solvers of the synthetic store")
    ap.add_argument("--keep", metavar="DIR", help="write the stores here and keep them (a "
                    "synthetic store already there, of the same size, is reused)")
    ap.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = ap.parse_args(argv)
    sizes = [] if args.skip_runs else [int(float(x)) for x in args.sizes.split(",") if x]
    if args.million and 1_000_000 not in sizes:
        sizes.append(1_000_000)
    workers = [int(x) for x in args.workers.split(",") if x]
    tmp = None
    if args.keep:
        folder = Path(args.keep)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-scale-")
        folder = Path(tmp.name)
    report: dict = {"runs": [], "synthetic": None, "cpus": os.cpu_count()}
    print(f"{'jobs':>9} {'-j':>3} {'wall s':>9} {'cpu s':>9} {'ms/job':>8} {'cpu ms/job':>10} "
          f"{'peak MB':>8} {'lb s':>7} {'lb MB':>7} {'load':>9}", flush=True)
    for j in workers:
        base = run_size(BASELINE_JOBS, j, folder) if sizes else None
        for n in sizes:
            r = run_size(n, j, folder)
            lb = leaderboard(Path(r["store"]), folder)
            per_job = (r["wall_s"] - base["wall_s"]) / (n - BASELINE_JOBS) * 1e3
            cpu_job = (r["cpu_s"] - base["cpu_s"]) / (n - BASELINE_JOBS) * 1e3
            rec = {"jobs": n, "workers": j, "wall_s": r["wall_s"], "cpu_s": r["cpu_s"],
                   "ms_per_job": per_job, "cpu_ms_per_job": cpu_job, "peak_mb": r["peak_mb"],
                   "baseline_wall_s": base["wall_s"], "leaderboard_s": lb["wall_s"],
                   "leaderboard_cpu_s": lb["cpu_s"], "leaderboard_peak_mb": lb["peak_mb"],
                   "load": r["load"]}
            report["runs"].append(rec)
            print(f"{n:>9} {j:>3} {r['wall_s']:>9.1f} {r['cpu_s']:>9.1f} {per_job:>8.3f} "
                  f"{cpu_job:>10.3f} {r['peak_mb']:>8.0f} {lb['wall_s']:>7.1f} {lb['peak_mb']:>7.0f} "
                  f"{r['load'][0]:>4.1f}-{r['load'][1]:<4.1f}", flush=True)
    # The pool's speed-up over in-process: the ratio of the marginal wall times per job.
    for n in sizes:
        per = {r["workers"]: r["ms_per_job"] for r in report["runs"] if r["jobs"] == n}
        for j in workers:
            if j and 0 in per and j in per and per[j] > 0:
                print(f"{n:>9} jobs: -j {j} is {per[0] / per[j]:.2f}x in-process (wall per job)")
    if args.rows:
        path = folder / f"synthetic-{args.rows}-{args.solvers}.sqlite"
        if args.keep and path.exists():
            w = {"rows": args.rows // args.solvers * args.solvers, "instances": args.rows // args.solvers,
                 "solvers": args.solvers, "write_s": 0.0, "bytes": os.path.getsize(path)}
        else:
            w = synthetic_store(path, args.rows, args.solvers)
        lb = leaderboard(path, folder)
        report["synthetic"] = {**w, "leaderboard_s": lb["wall_s"], "leaderboard_cpu_s": lb["cpu_s"],
                               "leaderboard_peak_mb": lb["peak_mb"]}
        made = f"written in {w['write_s']:.0f} s" if w["write_s"] else "reused"
        print(f"\nsynthetic store: {w['rows']:,} rows ({w['instances']:,} instances x {w['solvers']} "
              f"solvers), {made}, {w['bytes'] / 2**20:.0f} MB\n"
              f"offbench leaderboard: {lb['wall_s']:.1f} s ({lb['cpu_s']:.1f} s of CPU), peak "
              f"{lb['peak_mb']:.0f} MB (goal: under 30 s and 1024 MB)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
