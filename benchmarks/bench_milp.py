"""milp: time to proof by size, back end and formulation; the crossover with exhaustive search.

Run::

    python benchmarks/bench_milp.py                  # 5x5, 10x10, 20x10; 3 seeds; 60 s limit
    python benchmarks/bench_milp.py --quick          # 5x5, 10x10; 2 seeds; no textbook model
    python benchmarks/bench_milp.py --sizes 20x10 --seeds 8 --configs highs,transitions,textbook

Instances: ``random_instance(seed, n_jobs, layers=(L, L), capacities=True, deadlines=True)``
for ``seed = 0, 1, ...`` (coupled: edge and cloud capacities of 10-70 % of the total ops; most
jobs with a deadline and a tardiness weight), then ``capacitated-v1:medium`` (20 jobs x 10
layers of real DNN profiles). Configurations of the ``milp`` solver (one thread each):

=============  ===================================================================
``highs``      the default: ``formulation=auto``, HiGHS
``scip``       ``formulation=auto``, SCIP
``cp-sat``     the path formulation, CP-SAT (exact integer scaling)
``transitions``  ``formulation=transitions`` (with Lagrangian fixings and cutoff), HiGHS
``paths``      ``formulation=paths``, HiGHS
``textbook``   ``formulation=transitions, reduce=False``: the plain transition model in HiGHS
               (the baseline the issue quotes: 8 s to minutes at 20 x 10)
=============  ===================================================================

Per size and configuration: the median and the largest wall time over the seeds (compilation
excluded: every kernel is warmed first), how many seeds were proven optimal within the limit,
and the median gap of the others. Every proven optimum is checked against the other
configurations' (1e-8 relative) and against exhaustive search where that runs (at most 16
layers); a disagreement stops the benchmark. The crossover table times exhaustive search and
the default ``milp`` on the same small instances.
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

CONFIGS = {
    "highs": {},
    "scip": {"backend": "scip"},
    "cp-sat": {"backend": "cp-sat", "formulation": "paths"},
    "transitions": {"formulation": "transitions"},
    "paths": {"formulation": "paths"},
    "textbook": {"formulation": "transitions", "reduce": False},
}
CROSSOVER = [(2, 3), (2, 4), (3, 4), (4, 4)]


def instances(n_jobs, layers, seeds):
    return [random_instance(s, n_jobs=n_jobs, layers=(layers, layers), capacities=True,
                            deadlines=True) for s in range(seeds)]


def warm():
    """Compile every kernel (path labels, pricing, fixings, repair, exhaustive's walk)."""
    inst = random_instance(0, n_jobs=3, layers=(3, 3), capacities=True, deadlines=True)
    for params in ({}, {"formulation": "transitions"}, {"backend": "cp-sat"}):
        resolve("milp")(**params).solve(inst)
    try:
        resolve("exhaustive")().solve(inst)
    except Exception:  # noqa: BLE001 - exhaustive is optional here
        pass


def run_size(nj, L, seeds, configs, time_limit, optima):
    milp = resolve("milp")
    rows = {}
    for name in configs:
        times, proved, gaps = [], 0, []
        for k, inst in enumerate(instances(nj, L, seeds)):
            r = milp(**CONFIGS[name]).solve(inst, time_limit=time_limit)
            times.append(r.wall_time)
            if r.status == "optimal":
                proved += 1
                ref = optima.setdefault(k, (r.cost, name))
                if abs(r.cost - ref[0]) > 1e-8 * abs(ref[0]):
                    raise SystemExit(f"{nj}x{L} seed {k}: {name} proved {r.cost!r}, "
                                     f"{ref[1]} proved {ref[0]!r}")
            elif r.status == "error":
                raise SystemExit(f"{nj}x{L} seed {k}: {name} failed: {r.error}")
            elif r.gap is not None:
                gaps.append(r.gap)
        rows[name] = (statistics.median(times), max(times), proved, gaps)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--sizes", default="5x5,10x10,20x10", help="comma-separated JOBSxLAYERS")
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help=f"comma-separated, from {', '.join(CONFIGS)}")
    ap.add_argument("--quick", action="store_true", help="5x5 and 10x10, 2 seeds, no textbook")
    ap.add_argument("--family-count", type=int, default=5,
                    help="instances of capacitated-v1:medium (0: skip)")
    ap.add_argument("--no-crossover", action="store_true")
    args = ap.parse_args(argv)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    bad = [c for c in configs if c not in CONFIGS]
    if bad:
        ap.error(f"unknown configuration(s) {bad}; choose from {list(CONFIGS)}")
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]
    seeds = args.seeds
    if args.quick:
        sizes, seeds = [(5, 5), (10, 10)], 2
        configs = [c for c in configs if c != "textbook"]
        args.family_count = 0
    warm()

    print(f"milp on coupled instances with deadlines: {seeds} seeds per size, time limit "
          f"{args.time_limit:g} s, one thread; wall seconds (median / max), proved, median gap "
          f"of the unproved")
    head = f"{'jobs x layers':<14}" + "".join(f"{c:>24}" for c in configs)
    print(head)
    for nj, L in sizes:
        rows = run_size(nj, L, seeds, configs, args.time_limit, {})
        cells = []
        for c in configs:
            med, mx, proved, gaps = rows[c]
            g = f" g{statistics.median(gaps):.0e}" if gaps else ""
            cells.append(f"{med:7.2f} / {mx:6.2f} {proved}/{seeds}{g}")
        print(f"{f'{nj} x {L}':<14}" + "".join(f"{s:>24}" for s in cells))

    if not args.no_crossover:
        ex = resolve("exhaustive")
        milp = resolve("milp")
        print(f"\ncrossover with exhaustive search (same instances, {seeds} seeds; medians, s)")
        print(f"{'jobs x layers':<14}{'layers':>7}{'exhaustive':>12}{'milp':>10}")
        for nj, L in CROSSOVER:
            te, tm = [], []
            for inst in instances(nj, L, seeds):
                a = ex().solve(inst)
                b = milp().solve(inst)
                if a.status != "optimal" or b.status != "optimal" \
                        or abs(a.cost - b.cost) > 1e-6 * abs(a.cost):
                    raise SystemExit(f"{nj}x{L}: exhaustive {a.status} {a.cost!r}, "
                                     f"milp {b.status} {b.cost!r}")
                te.append(a.wall_time)
                tm.append(b.wall_time)
            print(f"{f'{nj} x {L}':<14}{nj * L:>7}{statistics.median(te):>12.4f}"
                  f"{statistics.median(tm):>10.4f}")

    if args.family_count:
        from offbench.families import get_family

        fam = get_family("capacitated-v1:medium")
        insts = list(fam.instances(0, args.family_count))
        print(f"\n{fam.id}: {len(insts)} instances (seed 0), time limit {args.time_limit:g} s")
        milp = resolve("milp")
        for c in configs:
            times, proved = [], 0
            for inst in insts:
                r = milp(**CONFIGS[c]).solve(inst, time_limit=args.time_limit)
                times.append(r.wall_time)
                proved += r.status == "optimal"
            print(f"  {c:<12} proved {proved}/{len(times)}, median {statistics.median(times):.2f} s, "
                  f"max {max(times):.2f} s")


if __name__ == "__main__":
    main()
