"""Time of ``milp`` to prove DAG instances with capacities and deadlines (issue 15 item 3: 20
jobs x 25 nodes with capacities and deadlines proven within 60 s).

Run:  python benchmarks/scripts/bench_dag_milp.py [--first 0] [--seeds 5] [--jobs 20]
      [--nodes 25] [--edge-prob 0.15] [--backend highspy] [--time-limit 60]

Seeds 0-4 and 100-139 (``--first 100``) are the ones the DAG milp was tuned on; quote seeds
5-14 (``--first 5 --seeds 10``) as the evaluation. HiGHS's limit is wall time: on a loaded
machine give a larger ``--time-limit`` and read the CPU column.

The instances: :func:`offbench.dag.random_dag_instance` (``random_instance``'s system: devices,
edge and cloud capacities, soft deadlines; each job a random DAG on ``--nodes`` nodes, every pair
``u < v`` an edge with probability ``--edge-prob``, a quarter of the edges with messages of
their own), seeds ``--first .. --first + --seeds - 1``. One untimed warm-up solve (kernels compiled, the back end's
library loaded), then each instance solved once by ``milp`` (``solvers/_dag_milp.py``'s model)
on one thread with ``--time-limit`` (wall time). Printed per instance: status, the solver's wall
time and the process's CPU time over the solve (on a loaded machine the back end gets a share of
a core: the CPU time is closer to what a quiet machine would take), the gap of the bound, where
the back end started (``start``: milp's incumbent before it, ``lp``: the LP's certified bound,
each relative to the answer), each
capacity's load over the capacity, how many jobs are late, the model's size; then the median
wall and CPU times (all instances and the proven ones), the largest gap at the limit, the
branch-and-bound nodes (HiGHS) and how many were proven ``optimal``. Each answer is checked: its
cost is the cost model's price (``Solver.solve`` re-prices it), its bound is at most its cost,
and ``lp-bound``'s certified bound is at most the proven optimum.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from offbench.cost import evaluate  # noqa: E402
from offbench.dag import random_dag_instance  # noqa: E402
from offbench.discovery import make_solver  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--first", type=int, default=0, help="the first seed")
    ap.add_argument("--seeds", type=int, default=5, help="how many seeds")
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--nodes", type=int, default=25)
    ap.add_argument("--edge-prob", type=float, default=0.15)
    ap.add_argument("--backend", default="highspy", choices=("highspy", "highs", "scip", "cbc"),
                    help="highs and highspy both run HiGHS through highspy on DAG jobs")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--no-lp", action="store_true", help="skip the lp-bound check")
    a = ap.parse_args(argv)

    milp = make_solver("milp", {"backend": a.backend})
    lp = make_solver("lp-bound")
    warm = random_dag_instance(1000, n_jobs=2, nodes=(4, 6), capacities=True, deadlines=True)
    milp.solve(warm, time_limit=600)
    if not a.no_lp:
        lp.solve(warm, time_limit=600)

    walls, cpus, gaps, nodes, proven_walls, proven_cpus, statuses = [], [], [], [], [], [], []
    proven = 0
    print(f"milp ({a.backend}) on {a.jobs} jobs x {a.nodes} nodes, edge_prob {a.edge_prob}, "
          f"capacities and deadlines, limit {a.time_limit:g} s, seeds {a.first}-"
          f"{a.first + a.seeds - 1}, load average {os.getloadavg()[0]:.1f}")
    for seed in range(a.first, a.first + a.seeds):
        inst = random_dag_instance(seed, n_devices=5, n_jobs=a.jobs, nodes=(a.nodes, a.nodes),
                                   capacities=True, deadlines=True, edge_prob=a.edge_prob)
        c0 = time.process_time()
        r = milp.solve(inst, time_limit=a.time_limit)
        cpu = time.process_time() - c0
        if r.status not in ("optimal", "timeout", "feasible"):
            print(f"seed {seed}: {r.status}: {r.error}")
            return 1
        ev = evaluate(inst, r.decision)
        assert ev.feasible and abs(ev.cost - r.cost) <= 1e-12 * abs(r.cost)
        assert r.bound is not None and r.bound <= r.cost
        fill = [ev.load[k] / c for k, c in (("edge", inst.edge_capacity),
                                             ("cloud", inst.cloud_capacity))
                if c is not None and np.isfinite(c) and c > 0]
        late = sum(1 for j in ev.jobs if j.tardiness > 0)
        gap = (r.cost - r.bound) / abs(r.cost)
        # Where the back end started: milp's own incumbent and the LP's certified bound, each
        # relative to the answer (a weak start or a weak LP: what makes an instance hard).
        inc, lpb = r.info.get("incumbent_cost"), r.info.get("lp_bound")
        start = (f"start +{(inc - r.cost) / abs(r.cost):.1e}" if inc is not None else "start -")
        start += f" lp -{(r.cost - lpb) / abs(r.cost):.1e}" if lpb is not None else " lp -"
        line = (f"seed {seed}: {r.status:8s} {r.wall_time:7.2f} s (cpu {cpu:6.2f} s)  "
                f"gap {gap:.1e}  {start}  nodes {r.info.get('backend_nodes', '-')}  "
                f"vars {r.info.get('variables')} rows {r.info.get('rows')}  "
                f"load/capacity {' '.join(f'{f:.2f}' for f in fill)}  late jobs {late}")
        if not a.no_lp:
            lb = lp.solve(inst, time_limit=a.time_limit)
            assert lb.bound is not None
            if r.status == "optimal":
                assert lb.bound <= r.cost * (1 + 1e-9), (lb.bound, r.cost)
            line += f"  lp-bound gap {(r.cost - lb.bound) / abs(r.cost):.1e}"
        print(line, flush=True)
        walls.append(r.wall_time)
        cpus.append(cpu)
        gaps.append(gap)
        statuses.append(r.status)
        if r.info.get("backend_nodes") is not None:
            nodes.append(r.info["backend_nodes"])
        if r.status == "optimal":
            proven += 1
            proven_walls.append(r.wall_time)
            proven_cpus.append(cpu)
    print()
    print("| instances | proven | wall median / max (s) | cpu median / max (s) | "
          "largest gap at the limit | nodes median / max |")
    print("|---|---|---|---|---|---|")

    def mm(v):
        return f"{statistics.median(v):.2f} / {max(v):.2f}" if v else "-"
    unproven = [g for g, st in zip(gaps, statuses) if st != "optimal"] or [0.0]
    print(f"| {len(walls)} | {proven} | {mm(walls)} | {mm(cpus)} | {max(unproven):.1e} | "
          f"{(f'{statistics.median(nodes):.0f} / {max(nodes)}' if nodes else '-')} |")
    print(f"proven only: wall {mm(proven_walls)} s, cpu {mm(proven_cpus)} s; "
          f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
