"""Speed of the exact three-tier minimum cut on per-layer DNN DAGs (issue 15: 1,000 jobs of a
per-layer ResNet-18 DAG proven optimal in under 2 s).

Run:  python benchmarks/scripts/bench_mincut.py [--jobs 1000] [--repeats 5] [--models resnet18]

The instance: ``--jobs`` jobs, each the per-layer DAG of ``--models``' first model as shipped in
``offbench/data/dag_profiles.json`` (:func:`offbench.dag_profiles.load_dag_profile`: traced with
``torch.fx``, ResNet-18 with its skip connections; FLOPs = 2 x MACs, 32-bit tensors), on the
devices, edge, cloud and network of ``random_instance(seed, n_devices=10)`` (each job on a random
device); no capacities, no deadlines. Printed, with medians of ``--repeats`` runs in one process
(after one untimed warm-up that compiles the kernels), on one core (OR-Tools' max-flow is
serial; the Numba kernels here are serial):

* **mincut**: ``Solver.solve``'s ``wall_time`` (the solver's own work: filling the energy from the
  cost model's tables, the max-flow, re-pricing with ``evaluate``) and the whole call; the graph
  size; the parts (``instance_problem``: the energy; ``solve_cuts``: building the graph and the
  max-flow).
* **dads** (two cuts per job) and **neurosurgeon** on the same instance, and the cost of each
  against the minimum cut's (what three tiers buy over two; what a DAG cut buys over a file-order
  cut).

Every answer is checked before it is timed: ``mincut`` must claim ``optimal`` within its stated
tolerance; its objective must equal the cost model's price; no single-node move (the cost
model's move kernel) may lower the cost of any job; and no baseline (dads, neurosurgeon, greedy)
may cost less.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from offbench.cost import MoveState, evaluate  # noqa: E402
from offbench.discovery import resolve  # noqa: E402
from offbench.generators import random_instance  # noqa: E402
from offbench.instance import Instance  # noqa: E402


def dag_instance(model: str, n_jobs: int, seed: int = 0) -> Instance:
    """``n_jobs`` copies of ``model``'s DAG on random_instance's system (module docstring)."""
    from offbench.dag_profiles import load_dag_profile

    prof = load_dag_profile(model)
    d = random_instance(seed, n_devices=10, n_jobs=n_jobs, layers=(1, 1)).to_dict()
    d["version"] = 2
    d["jobs"] = [prof.to_job(device=int(j["device"])) for j in d["jobs"]]
    return Instance.from_dict(d)


def check(inst, res, baselines) -> None:
    assert res.status == "optimal", (res.status, res.error)
    ev = evaluate(inst, res.decision)
    assert abs(res.info["objective"] - ev.cost) <= 1e-9 * ev.cost
    assert res.info["tolerance"] <= 1e-9 * ev.cost
    ms = MoveState(inst, res.decision)
    worst = 0.0
    for layer in range(inst.n_layers):
        for k in range(3):
            if k != ms.x[layer]:
                worst = min(worst, ms.delta(layer, k)[0])
    assert worst >= -1e-9 * ev.cost, f"a single-node move lowers the cost by {-worst!r}"
    for b in baselines:
        assert b.cost >= res.cost * (1 - 1e-9), f"{b.solver} beat the minimum cut"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--models", default="resnet18",
                    help="comma-separated models of offbench.dag_profiles (resnet18, "
                         "mobilenet_v2, googlenet, vit_b_16, vit_ti_16)")
    args = ap.parse_args(argv)
    if args.jobs < 1 or args.repeats < 1:
        print("bench_mincut: --jobs and --repeats must be >= 1", file=sys.stderr)
        return 2
    from offbench._maxflow import solve_cuts
    from offbench_solvers.mincut import instance_problem

    mincut, dads, ns, greedy = (resolve(n)() for n in ("mincut", "dads", "neurosurgeon", "greedy"))
    print(f"{'model':<13} {'nodes':>5} {'edges':>5} {'jobs':>5} {'what':<28} {'median s':>9} "
          f"{'min s':>7}  note")
    for model in args.models.split(","):
        inst = dag_instance(model, args.jobs)
        L = int(inst.layers_per_job[0])
        E = int(inst.edge_offsets[1] - inst.edge_offsets[0])
        res = mincut.solve(inst)                       # warm-up (compiles), and checked
        others = [s.solve(inst) for s in (dads, ns, greedy)]
        check(inst, res, others)
        wall, call, build, cut = [], [], [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            r = mincut.solve(inst)
            call.append(time.perf_counter() - t0)
            wall.append(r.wall_time)
            assert r.status == "optimal" and np.array_equal(r.decision, res.decision)
            t0 = time.perf_counter()
            P = instance_problem(inst)
            t1 = time.perf_counter()
            solve_cuts(P)
            build.append(t1 - t0)
            cut.append(time.perf_counter() - t1)
        tiers = np.bincount(res.decision, minlength=3) / inst.n_layers
        head = f"{model:<13} {L:>5} {E:>5} {inst.n_jobs:>5}"

        def row(what, xs, note=""):
            print(f"{head} {what:<28} {statistics.median(xs):>9.4f} {min(xs):>7.4f}  {note}")

        row("mincut (wall_time)", wall,
            f"optimal, {res.info['graph_nodes']} graph nodes, {res.info['arcs']} arcs; nodes on "
            f"device/edge/cloud {tiers[0]:.0%}/{tiers[1]:.0%}/{tiers[2]:.0%}")
        row("mincut (whole solve call)", call)
        row("  energy (instance_problem)", build)
        row("  graph + max-flow", cut)
        for s, o in zip((dads, ns), others[:2]):
            ts = []
            for _ in range(args.repeats):
                ts.append(s.solve(inst).wall_time)
            row(f"{s.name} (wall_time)", ts, f"cost / mincut's = {o.cost / res.cost:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
