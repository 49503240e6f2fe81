"""MILP time to proof by size and back end, and the crossover with exhaustive search.

Run:  python benchmarks/bench_milp.py [--seeds 3] [--time-limit 60] [--quick]

Coupled instances (edge and cloud capacities) with deadlines, from the seeded random generator
and from the capacitated family. For each size: the median wall time of ``milp`` per back end
(HiGHS, SCIP; one thread), how many seeds it proved optimal within the limit, the median gap
of those it did not, and exhaustive search's median time where it applies (at most 16 layers).
Every proven optimum is checked against exhaustive search where both ran. Then the same for
the instance family ``capacitated-v1:medium`` (20 jobs x 10 layers of real DNN profiles).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offbench.generators import random_instance  # noqa: E402
from offbench.solver import resolve  # noqa: E402

SIZES = [(2, 4), (3, 4), (4, 4), (5, 5), (10, 10), (20, 10)]


def instances(n_jobs, layers, seeds):
    return [random_instance(1000 * n_jobs + 10 * layers + s, n_devices=3, n_jobs=n_jobs,
                            layers=(layers, layers), capacities=True, deadlines=True)
            for s in range(seeds)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--quick", action="store_true", help="sizes up to 10x10, 2 seeds")
    ap.add_argument("--family-only", action="store_true")
    ap.add_argument("--family-count", type=int, default=5,
                    help="instances of capacitated-v1:medium (0: skip)")
    args = ap.parse_args(argv)
    sizes = SIZES[:-1] if args.quick else SIZES
    seeds = 2 if args.quick else args.seeds
    milp, ex = resolve("milp"), resolve("exhaustive")
    # Warm the kernels so compilation is not timed.
    warm = instances(2, 2, 1)[0]
    milp().solve(warm)
    ex().solve(warm)

    print(f"coupled instances with deadlines, {seeds} seeds per size, time limit "
          f"{args.time_limit:g} s, one thread; medians")
    print(f"{'jobs x layers':<14} {'exhaustive s':>12} {'milp/highs s':>13} {'proved':>7} "
          f"{'milp/scip s':>12} {'proved':>7} {'gap (unproved)':>15}")
    for nj, L in sizes if not args.family_only else []:
        insts = instances(nj, L, seeds)
        n = nj * L
        row = {}
        ex_times = []
        optima = {}
        if n <= 16:
            for k, inst in enumerate(insts):
                t0 = time.perf_counter()
                r = ex().solve(inst)
                ex_times.append(time.perf_counter() - t0)
                optima[k] = r.cost
        for be in ("highs", "scip"):
            times, proved, gaps = [], 0, []
            for k, inst in enumerate(insts):
                t0 = time.perf_counter()
                r = milp(backend=be).solve(inst, time_limit=args.time_limit)
                times.append(time.perf_counter() - t0)
                if r.status == "optimal":
                    proved += 1
                    if k in optima:
                        assert abs(r.cost - optima[k]) <= 1e-6 * optima[k], (nj, L, k, be)
                elif r.gap is not None:
                    gaps.append(r.gap)
            row[be] = (statistics.median(times), proved, gaps)
        ex_s = f"{statistics.median(ex_times):.3f}" if ex_times else "-"
        gaps = row["highs"][2] + row["scip"][2]
        gap_s = f"{statistics.median(gaps):.2e}" if gaps else "-"
        print(f"{nj:>3} x {L:<9} {ex_s:>12} {row['highs'][0]:>13.3f} "
              f"{row['highs'][1]:>4}/{seeds:<2} {row['scip'][0]:>12.3f} {row['scip'][1]:>4}/{seeds:<2} "
              f"{gap_s:>15}")

    if args.family_count:
        from offbench.families import get_family

        fam = get_family("capacitated-v1:medium")
        print(f"\n{fam.id}: {args.family_count} instances (seed 0), time limit {args.time_limit:g} s")
        for be in ("highs", "scip"):
            times, proved = [], 0
            for inst in fam.instances(0, args.family_count):
                t0 = time.perf_counter()
                r = milp(backend=be).solve(inst, time_limit=args.time_limit)
                times.append(time.perf_counter() - t0)
                proved += r.status == "optimal"
            print(f"  milp/{be}: proved {proved}/{len(times)}, median {statistics.median(times):.2f} s, "
                  f"max {max(times):.2f} s")


if __name__ == "__main__":
    main()
