"""Speed of the exact references: exhaustive search (placements per second) and dp (jobs x layers).

Run:  python benchmarks/scripts/bench_exact.py [--repeats 5] [--sizes 12,14,16] [--threads 1,2]
                                               [--quick] [--no-dp]

Prints, with medians of the repeats measured in one run:

* **exhaustive**, on one core (``offbench._numba.set_num_threads(1)``; the walk is serial), for
  ``n`` layers in ``--sizes``, on an instance with capacities and deadlines (the full model:
  every step updates loads and job times and prices tardiness): placements per second, from the
  solver's own wall time (``Result.wall_time``: the whole ``_solve``, setup included) and the
  ``3^n`` placements it visited. A baseline in the same run, at the smallest size:
  ``evaluate_many/1`` prices placements from scratch with the batch kernel on one thread (what a
  naive enumeration costs); its ratio is to the exhaustive solver.
* **threads**: exhaustive at the largest size and ``evaluate_many`` on 2^20 random rows, for
  each thread count in ``--threads`` (``threads=`` of ``Solver.solve`` and of ``evaluate_many``), with
  the speed-up over the first count; the decision, cost and costs must be identical for every
  count (checked). The counts are interleaved (one run of each per repeat, twice as many
  repeats as ``--repeats``), so a change of the machine's load hits them alike; each row also
  gives the process's CPU time per placement or row (a thread's overhead shows there even on a
  busy machine) and, on Linux, its threads' mean time waiting for a core (``/proc`` schedstat:
  on a quiet machine it is about 0). The load average is printed before and after.
* **dp** on 10^4 jobs x 50 layers, without deadlines, with the generator's deadlines, and with
  tight deadlines (between 20% and 100% of each job's all-device time, heavy energy weight: the
  regime where the Pareto labels work), on one core (dp is serial): ``solve_uncoupled`` (the
  kernels alone); ``Solver.solve``'s ``wall_time`` (the solver's own work); and the whole
  ``Solver.solve`` call, which also prices the decision with ``offbench.cost.evaluate`` (per-job
  report included) and checks it.

Every answer is checked before it is timed: exhaustive against plain enumeration at the smallest
size, dp's objective against the cost model and against exhaustive on single jobs.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numba  # noqa: E402

from offbench._numba import set_num_threads  # noqa: E402
from offbench.cost import evaluate, evaluate_many, tables  # noqa: E402
from offbench.generators import random_instance  # noqa: E402
from offbench.discovery import resolve  # noqa: E402


def exhaustive_instance(n: int):
    """``n`` layers in jobs of 4 (the last one shorter), with capacities and deadlines."""
    nj = -(-n // 4)
    inst = random_instance(n, n_devices=3, n_jobs=nj, layers=(4, 4), capacities=True,
                           deadlines=True)
    off = np.array(inst.layer_offsets)
    off[-1] = n                                   # truncate the last job
    inst = inst.replace(layer_offsets=off, ops=inst.ops[:n], bits=inst.bits[:n + nj])
    assert inst.n_layers == n
    return inst


def brute_force_cost(inst) -> float:
    X = np.array(list(itertools.product(range(3), repeat=inst.n_layers)), dtype=np.int8)
    c, f, _ = evaluate_many(inst, X, with_feasibility=True, parallel=False)
    c[~f] = np.inf
    return float(c.min())


def time_batch_enumeration(inst, rows: int = 1 << 18) -> float:
    """Placements per second of pricing every placement from scratch (one thread)."""
    n = inst.n_layers
    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, (rows, n)).astype(np.int8)
    evaluate_many(inst, X[:10], parallel=False)
    t0 = time.perf_counter()
    evaluate_many(inst, X, parallel=False)
    return rows / (time.perf_counter() - t0)


def tight(inst, seed: int):
    rng = np.random.default_rng(seed)
    ev = evaluate(inst, np.zeros(inst.n_layers, dtype=np.int8))
    t_dev = np.array([j.time for j in ev.jobs])
    return inst.replace(deadline=t_dev * rng.uniform(0.2, 1.0, inst.n_jobs),
                        w_energy=float(rng.uniform(0.5, 5.0)),
                        w_tardiness=float(rng.choice([1.0, 10.0, 100.0])))


def single_job(inst, i: int):
    lo, hi = int(inst.layer_offsets[i]), int(inst.layer_offsets[i + 1])
    return inst.replace(job_device=inst.job_device[i:i + 1], layer_offsets=np.array([0, hi - lo]),
                        ops=inst.ops[lo:hi], bits=inst.job_bits(i), deadline=inst.deadline[i:i + 1],
                        job_weight=inst.job_weight[i:i + 1])


def median(xs):
    return statistics.median(xs)


def _schedstat() -> dict:
    """Per thread of this process: (ns on a core, ns waiting for one); {} where /proc has none."""
    out = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                ran, waited = f.read().split()[:2]
            out[tid] = (int(ran), int(waited))
        except (OSError, ValueError):
            pass
    return out


def timed(fn):
    """``fn()``'s wall time, CPU time (all threads) and its busy threads' mean wait for a core
    (NaN where /proc has no schedstat); and its result."""
    a = _schedstat()
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    b = _schedstat()
    waits = [(b[k][1] - a[k][1]) / 1e9 for k in b if k in a and b[k][0] - a[k][0] > 0.05 * wall * 1e9]
    return wall, cpu, (statistics.mean(waits) if waits else float("nan")), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sizes", default="12,14,16", help="exhaustive sizes (layers)")
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--layers", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="3 repeats, sizes 12,14")
    ap.add_argument("--no-dp", action="store_true", help="skip the dp rows")
    ap.add_argument("--threads", default="1,2",
                    help="thread counts for the scaling rows (exhaustive at the largest size, "
                         "evaluate_many on 2^20 rows)")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats = 3
        args.sizes = "12,14"
    sizes = [int(s) for s in args.sizes.split(",")]
    threads = numba.get_num_threads()
    rows = []

    # ------------------------------------------------------------------ exhaustive
    set_num_threads(1)
    ex = resolve("exhaustive")(max_layers=max(sizes))
    for n in sizes:
        inst = exhaustive_instance(n)
        res = ex.solve(inst)            # compiles on the first size; checked below
        assert res.status == "optimal", res.error
        if n == sizes[0]:
            want = brute_force_cost(inst)
            assert abs(res.cost - want) <= 1e-9 * want, (res.cost, want)
        reps = args.repeats if n < 16 else max(3, args.repeats // 2)
        walls = []
        for _ in range(reps):
            r = ex.solve(inst)
            assert r.cost == res.cost and r.info["placements"] == 3 ** n
            walls.append(r.wall_time)
        rate = 3 ** n / median(walls)
        rows.append(("exhaustive", f"n={n} (3^{n}={3 ** n:.3g})", median(walls), rate, "placements/s", 1.0))
        if n == sizes[0]:
            base = rate
            r_batch = median([time_batch_enumeration(inst) for _ in range(reps)])
            rows.append(("evaluate_many/1", f"n={n}", (3 ** n) / r_batch, r_batch, "placements/s",
                         r_batch / base))

    # ------------------------------------------------------------------ threads
    counts = [int(c) for c in args.threads.split(",")]
    set_num_threads(threads)
    inst = exhaustive_instance(max(sizes))
    n = inst.n_layers
    exth = resolve("exhaustive")(max_layers=n)
    X = np.random.default_rng(0).integers(0, 3, (1 << 20, inst.n_layers)).astype(np.int8)
    ref = base_costs = None
    for th in counts:                   # warm up; the same answers for any thread count
        first = exth.solve(inst, threads=th)
        assert first.status == "optimal", first.error
        ref = ref or first
        assert first.cost == ref.cost and np.array_equal(first.decision, ref.decision)
        costs = evaluate_many(inst, X, threads=th)
        base_costs = costs if base_costs is None else base_costs
        assert np.array_equal(costs, base_costs)
    load0 = os.getloadavg()
    ex_t = {th: [] for th in counts}
    ev_t = {th: [] for th in counts}
    for _ in range(2 * args.repeats):   # interleaved: one run of each count per repeat
        for th in counts:
            wall, cpu, wait, r = timed(lambda: exth.solve(inst, threads=th))
            ex_t[th].append((r.wall_time, cpu, wait))
            ev_t[th].append(timed(lambda: evaluate_many(inst, X, threads=th))[:3])
    load1 = os.getloadavg()
    for what, case, per, unit, runs in (
            ("exhaustive", f"n={n}", 3 ** n, "placements/s", ex_t),
            ("evaluate_many", f"2^20 x {n} layers", X.shape[0], "rows/s", ev_t)):
        w0 = median([r[0] for r in runs[counts[0]]])
        for th in counts:
            w = median([r[0] for r in runs[th]])
            cpu = median([r[1] for r in runs[th]]) / per * 1e9
            wait = median([r[2] for r in runs[th]]) * 1e3
            rows.append((what, f"{case}, threads={th}", w, per / w,
                         f"{unit}; CPU {cpu:.2f} ns each, wait {wait:.1f} ms", w0 / w))
    set_num_threads(1)

    # ------------------------------------------------------------------ dp
    from offbench_solvers.dp import solve_uncoupled

    dp = resolve("dp")()
    exs = resolve("exhaustive")()
    nj, L = args.jobs, args.layers
    cases = {}
    if not args.no_dp:
        cases["no deadlines"] = random_instance(1, n_devices=20, n_jobs=nj, layers=(L, L))
        cases["deadlines"] = random_instance(2, n_devices=20, n_jobs=nj, layers=(L, L),
                                             deadlines=True)
        cases["tight deadlines"] = tight(cases["deadlines"], 3)
    for label, inst in cases.items():
        tables(inst)
        res = dp.solve(inst)
        assert res.status == "optimal", res.error
        assert abs(res.info["objective"] - res.cost) <= 1e-9 * res.cost
        # spot check: each job's part is its own optimum (single-job instances of 10 layers)
        small = tight(random_instance(4, n_jobs=6, layers=(10, 10), deadlines=True), 5) \
            if label == "tight deadlines" else random_instance(4, n_jobs=6, layers=(10, 10),
                                                              deadlines=label != "no deadlines")
        got = evaluate(small, dp.solve(small).decision)
        for i in range(small.n_jobs):
            assert abs(got.jobs[i].cost - exs.solve(single_job(small, i)).cost) <= 1e-9 * got.jobs[i].cost
        labels = res.info["labels"]
        solve_uncoupled(inst)
        ts = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            solve_uncoupled(inst)
            ts.append(time.perf_counter() - t0)
        rows.append(("dp kernels", f"{label} ({nj}x{L})", median(ts), nj * L / median(ts),
                     "layers/s", None))
        walls, calls = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            r = dp.solve(inst)
            calls.append(time.perf_counter() - t0)
            walls.append(r.wall_time)
        rows.append(("dp solve", f"{label}: wall_time", median(walls), nj * L / median(walls),
                     "layers/s", None))
        rows.append(("dp solve", f"{label}: whole call", median(calls), nj * L / median(calls),
                     f"layers/s ({labels} labels)", None))

    # ------------------------------------------------------------------ table
    print(f"offbench bench_exact: numba {numba.__version__}, one thread (of {threads}) except "
          f"the threads= rows (ratio: to the first thread count), medians of {args.repeats} "
          f"repeats (16+ layers: {max(3, args.repeats // 2)}; threads= rows: "
          f"{2 * args.repeats}, interleaved, load average {load0[0]:.2f} before and "
          f"{load1[0]:.2f} after; wait: a thread's mean wait for a core per run)")
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"{'what':<{w0}}  {'case':<{w1}}  {'median s':>10}  {'rate':>10}  unit  (ratio)")
    for what, case, sec, rate, unit, ratio in rows:
        rs = "" if ratio is None else f"  (x{ratio:.3f})"
        print(f"{what:<{w0}}  {case:<{w1}}  {sec:>10.4f}  {rate:>10.3g}  {unit}{rs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
