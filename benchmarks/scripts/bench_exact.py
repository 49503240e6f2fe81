"""Speed of the exact references: exhaustive search (placements per second) and dp (jobs x layers).

Run:  python benchmarks/scripts/bench_exact.py [--repeats 5] [--sizes 12,14,16] [--threads 1,2]
                                               [--thread-sizes 12,14,16] [--per-cpu] [--warm]
                                               [--quick] [--no-dp]

Prints, with medians of the repeats measured in one run:

* **exhaustive**, on one core (``offbench._numba.set_num_threads(1)``; the walk is serial), for
  ``n`` layers in ``--sizes``, on an instance with capacities and deadlines (the full model:
  every step updates loads and job times and prices tardiness): placements per second, from the
  solver's own wall time (``Result.wall_time``: the whole ``_solve``, setup included) and the
  ``3^n`` placements it visited; and the CPU time of the whole ``solve`` call per placement
  (``time.process_time``), with its rate: on a loaded machine the wall time includes the waits
  for a core, the CPU time does not. A baseline in the same run, at the smallest size:
  ``evaluate_many/1`` prices placements from scratch with the batch kernel on one thread (what a
  naive enumeration costs); its ratio is to the exhaustive solver.
* **threads**: exhaustive at each size of ``--thread-sizes`` (default: the largest of
  ``--sizes``) and ``evaluate_many`` on 2^20 random rows of the largest, for each thread count in
  ``--threads`` (``threads=`` of ``Solver.solve`` and of ``evaluate_many``), with the speed-up
  over the first count; the decision, cost and costs must be identical for every count
  (checked). The counts are interleaved (one run of each per repeat, twice as many repeats as
  ``--repeats``), so a change of the machine's load hits them alike. Each run starts after a
  30 ms pause: Numba's OpenMP pool spins about 10 ms of CPU after each parallel call (measured
  here: 9-12 ms of process CPU in the 20-100 ms after an ``evaluate_many(threads=2)``), and
  without the pause that spinning was counted in the next run's CPU (a one-thread exhaustive
  run at 3^14 right after a two-thread ``evaluate_many`` showed 16.9 ns of CPU per placement
  for 14.7 ns of wall). So every run starts with the pool's worker asleep, as after any pause.
  Each row also gives where the time went, from ``/proc`` schedstat on Linux: the process's CPU
  time per placement or row; its busy threads' mean time waiting for a core (on a quiet
  machine about 0); and how much of the run each busy thread spent on a core (``on a core``,
  main thread first: a thread woken late, or idle at the end of a parallel region, shows below
  100 %; both near 100 % with a speed-up under 2 means each thread placed more slowly, not
  that it waited). The load average and the time the hypervisor stole from this machine
  (``/proc/stat``, in % of its CPUs) over the section are printed. With ``--per-cpu`` (Linux),
  each repeat also runs exhaustive on one thread pinned to each CPU in turn: on a virtual
  machine one CPU can be slower than the other (its physical core shared with another guest),
  which caps the speed-up of any parallel code; the threads= row then also gives its rate over
  the CPUs' one-thread rates summed (1.00: the threads lose nothing to each other). With
  ``--warm``, each multi-thread exhaustive run is also timed right after an untimed one, with
  no pause: the pool's worker thread still spinning and its CPU busy. Warm much faster than
  cold on an idle machine points at waking: the worker thread's, or its idle CPU's (a virtual
  CPU that was idle may wait for its host, or run at a low clock for its first milliseconds;
  on a busy machine the cores never idle, and here no run showed it).
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
import threading
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


def _cpu_clocks(tids) -> dict:
    """Per thread: ns on a core from its CPU clock (Linux's per-thread ``clock_gettime`` clock,
    exact and cheap to read: schedstat's own field is only brought up to date at the
    scheduler's ticks, up to 4 ms late, which put a 1.5 ms run at 116 %); {} elsewhere."""
    out = {}
    for tid in tids:
        try:
            out[tid] = time.clock_gettime_ns(((~int(tid)) << 3) | 6)  # CPUCLOCK_SCHED, thread
        except (OSError, OverflowError, AttributeError, ValueError):
            return {}
    return out


def _steal() -> tuple[float, float]:
    """(stolen, total) CPU time of the machine so far (``/proc/stat``, clock ticks); (0, 0) where
    there is none."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return float(v[7]), float(sum(v[:8]))
    except (OSError, ValueError, IndexError):
        return 0.0, 0.0


def timed(fn):
    """``fn()``'s wall time, CPU time (all threads), its busy threads' mean wait for a core and
    the share of the wall time each busy thread spent on a core (the calling thread first; NaN
    and () where /proc has no schedstat); and its result."""
    main = str(threading.get_native_id())
    a = _schedstat()
    ka = _cpu_clocks(a)
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    kb = _cpu_clocks(a) if ka else {}
    b = _schedstat()
    ran = {k: (kb[k] - ka[k] if kb else b[k][0] - a[k][0]) for k in b if k in a}
    busy = sorted((k != main, k) for k in ran if ran[k] > 0.05 * wall * 1e9)
    waits = [(b[k][1] - a[k][1]) / 1e9 for _, k in busy]
    on_core = tuple(ran[k] / 1e9 / wall for _, k in busy)
    return wall, cpu, (statistics.mean(waits) if waits else float("nan")), on_core, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sizes", default="12,14,16", help="exhaustive sizes (layers)")
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--layers", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="3 repeats, sizes 12,14")
    ap.add_argument("--no-dp", action="store_true", help="skip the dp rows")
    ap.add_argument("--threads", default="1,2",
                    help="thread counts for the scaling rows (exhaustive at --thread-sizes, "
                         "evaluate_many on 2^20 rows)")
    ap.add_argument("--per-cpu", action="store_true",
                    help="also run exhaustive on one thread on each CPU in turn (the calling "
                         "thread pinned there): a CPU slower than the others shows there, and "
                         "the threads= rows give their rate over the CPUs' rates summed")
    ap.add_argument("--warm", action="store_true",
                    help="also time each multi-thread exhaustive run right after an untimed "
                         "one (no pause: the worker thread and its core already busy)")
    ap.add_argument("--thread-sizes", default=None,
                    help="exhaustive sizes (layers) for the scaling rows (default: the largest "
                         "of --sizes)")
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
        walls, cpus = [], []
        for _ in range(reps):
            c0 = time.process_time()
            r = ex.solve(inst)
            cpus.append(time.process_time() - c0)
            assert r.cost == res.cost and r.info["placements"] == 3 ** n
            walls.append(r.wall_time)
        rate = 3 ** n / median(walls)
        cpu_ns = median(cpus) / 3 ** n * 1e9
        rows.append(("exhaustive", f"n={n} (3^{n}={3 ** n:.3g})", median(walls), rate,
                     f"placements/s; CPU {cpu_ns:.2f} ns each ({1e9 / cpu_ns:.3g}/s of CPU)",
                     1.0))
        if n == sizes[0]:
            base = rate
            r_batch = median([time_batch_enumeration(inst) for _ in range(reps)])
            rows.append(("evaluate_many/1", f"n={n}", (3 ** n) / r_batch, r_batch, "placements/s",
                         r_batch / base))

    # ------------------------------------------------------------------ threads
    counts = [int(c) for c in args.threads.split(",")]
    tsizes = [int(s) for s in args.thread_sizes.split(",")] if args.thread_sizes else [max(sizes)]
    set_num_threads(threads)
    insts = {n: exhaustive_instance(n) for n in tsizes}
    inst = exhaustive_instance(max(sizes))
    X = np.random.default_rng(0).integers(0, 3, (1 << 20, inst.n_layers)).astype(np.int8)
    exth = {n: resolve("exhaustive")(max_layers=n) for n in tsizes}
    base_costs = None
    for n in tsizes:                    # warm up; the same answers for any thread count
        ref = None
        for th in counts:
            first = exth[n].solve(insts[n], threads=th)
            assert first.status == "optimal", first.error
            ref = ref or first
            assert first.cost == ref.cost and np.array_equal(first.decision, ref.decision)
    for th in counts:
        costs = evaluate_many(inst, X, threads=th)
        base_costs = costs if base_costs is None else base_costs
        assert np.array_equal(costs, base_costs)
    cpus = sorted(os.sched_getaffinity(0)) if args.per_cpu else []
    keys = [(th, None) for th in counts] + [(1, c) for c in cpus]
    keys += [(th, "warm") for th in counts if th > 1 and args.warm]
    load0, steal0 = os.getloadavg(), _steal()
    ex_t = {(n, k): [] for n in tsizes for k in keys}
    ev_t = {(th, None): [] for th in counts}

    def run(fn, how=None):
        """``timed(fn)`` after 30 ms (the pool's worker stops spinning, see the docstring); with
        a CPU number for ``how``, the calling thread runs on that CPU alone meanwhile; with
        ``"warm"``, right after an untimed ``fn()`` instead, with no pause."""
        if how == "warm":
            fn()
            return timed(fn)
        time.sleep(0.03)
        if how is None:
            return timed(fn)
        mask = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {how})      # 0: this thread (Linux); the pool keeps its own
        try:
            return timed(fn)
        finally:
            os.sched_setaffinity(0, mask)

    for _ in range(2 * args.repeats):   # interleaved: one run of each count per repeat
        for n in tsizes:
            for th, how in keys:
                wall, cpu_s, wait, on_core, r = run(
                    lambda: exth[n].solve(insts[n], threads=th), how)
                ex_t[n, (th, how)].append((r.wall_time, cpu_s, wait, on_core))
        for th in counts:
            ev_t[th, None].append(run(lambda: evaluate_many(inst, X, threads=th))[:4])
    load1, steal1 = os.getloadavg(), _steal()
    stolen = 100 * (steal1[0] - steal0[0]) / max(steal1[1] - steal0[1], 1.0)
    series = [("exhaustive", f"n={n}", 3 ** n, "placements/s", {k: ex_t[n, k] for k in keys})
              for n in tsizes]
    series.append(("evaluate_many", f"2^20 x {inst.n_layers} layers", X.shape[0], "rows/s", ev_t))
    for what, case, per, unit, runs in series:
        w0 = median([r[0] for r in runs[counts[0], None]])
        per_cpu = [per / median([r[0] for r in runs[1, c]]) for c in cpus if (1, c) in runs]
        for th, how in runs:
            w = median([r[0] for r in runs[th, how]])
            cpu_s = median([r[1] for r in runs[th, how]]) / per * 1e9
            wait = median([r[2] for r in runs[th, how]]) * 1e3
            k = min(len(r[3]) for r in runs[th, how])
            on = "/".join(f"{100 * median([r[3][i] for r in runs[th, how]]):.0f}"
                          for i in range(k))
            note = ""
            if how is None and th > 1 and len(per_cpu) == th:
                note = f", {per / w / sum(per_cpu):.2f} of the CPUs' one-thread rates summed"
            label = (f"threads={th}" if how is None else f"threads={th} warm" if how == "warm"
                     else f"threads=1 on CPU {how}")
            rows.append((what, f"{case}, {label}", w, per / w,
                         f"{unit}; CPU {cpu_s:.2f} ns each, wait {wait:.1f} ms, on a core "
                         f"{on or '-'} %{note}", w0 / w))
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
          f"{load1[0]:.2f} after, {stolen:.1f} % of the CPUs stolen by the hypervisor; wait: a "
          f"thread's mean wait for a core per run; on a core: each busy thread's share of the "
          f"run, the calling thread first)")
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"{'what':<{w0}}  {'case':<{w1}}  {'median s':>10}  {'rate':>10}  unit  (ratio)")
    for what, case, sec, rate, unit, ratio in rows:
        rs = "" if ratio is None else f"  (x{ratio:.3f})"
        print(f"{what:<{w0}}  {case:<{w1}}  {sec:>10.4f}  {rate:>10.3g}  {unit}{rs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
