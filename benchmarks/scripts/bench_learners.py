"""Learned solvers on a frame stream: the online learning curve against dp's optimum, decision
latency and wall time per frame.

Run:  python benchmarks/scripts/bench_learners.py [--solvers sb3-dqn,sb3-ppo] [--frames 300]
                                           [--family dmro-v1] [--seed 0] [--window 50]
                                           [--param sb3-dqn:learning_rate=3e-4 ...] [--csv FILE]

For each solver, the online track's loop on one stream (the family's default environment;
``dmro-v1``: resnet18-mid, 10 devices x 5 layers), on one thread (Numba and torch): the solver
starts untrained, told its budget (``--frames`` frames), then per frame decides (``step``: the
decision latency, measured around the call as the tracks do) and learns (``learn``). Each frame
is scored against its optimum from ``dp`` (proven; its time per frame is printed beside the
learners'): ratio = cost / optimum, an infeasible decision scored at the all-device cost
(SPEC.md section 6). Printed: the mean ratio over consecutive blocks of frames (the learning
curve), over the final ``--window`` frames, the median decision latency and learning time per frame, and the mean
wall time per frame including learning (start included; imports and compilation are warmed up
first, as the runner does). ``--csv`` writes the per-frame ratios.

What the issue asks for is 5,000 frames; a few hundred run in a minute or two on one core.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from offbench._numba import set_num_threads  # noqa: E402
from offbench.cost import all_device_cost  # noqa: E402
from offbench.families import get_family  # noqa: E402
from offbench.solver import Context
from offbench.discovery import parse_params, resolve


def optimum(frames):
    dp = resolve("dp")()
    costs, times = [], []
    for f in frames:
        r = dp.solve(f)
        assert r.status == "optimal", r.error
        costs.append(r.cost)
        times.append(r.wall_time)
    return np.array(costs), times


def warm_up(name, params, frames) -> None:
    """Imports and JIT compilation, outside the timed loop (as the runner's warm-up does)."""
    w = resolve(name)(**params)
    w.budget = {"frames": 2, "learn_frames": 2}
    w.start(frames[0], 0)
    for k in range(2):
        r = w.step(frames[k])
        w.learn(frames[k], r.decision, Context(frames[k], None, k))


def run_learner(name, params, frames, opt, seed):
    warm_up(name, params, frames)
    solver = resolve(name)(**params)
    solver.budget = {"frames": len(frames), "learn_frames": len(frames)}
    t_all = time.perf_counter()
    solver.start(frames[0], seed)
    ratios, latency, learn_t = [], [], []
    for k, f in enumerate(frames):
        t0 = time.perf_counter()
        res = solver.step(f, seed=k)
        latency.append(time.perf_counter() - t0)
        cost = res.cost if (res.decision is not None and res.feasible) else all_device_cost(f)
        ratios.append(cost / opt[k])
        if res.decision is not None:
            t1 = time.perf_counter()
            solver.learn(f, res.decision, Context(f, None, k))
            learn_t.append(time.perf_counter() - t1)
    wall = time.perf_counter() - t_all
    return np.array(ratios), latency, learn_t, wall


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--solvers", default="sb3-dqn,sb3-ppo")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--family", default="dmro-v1")
    ap.add_argument("--seed", type=int, default=0, help="the stream's seed (the solvers' is 0)")
    ap.add_argument("--window", type=int, default=50)
    ap.add_argument("--param", action="append", default=[], metavar="SOLVER:NAME=VALUE")
    ap.add_argument("--csv", type=Path)
    args = ap.parse_args(argv)
    set_num_threads(1)
    fam = get_family(args.family)
    frames = list(fam.stream(args.seed, args.frames))
    opt, dp_times = optimum(frames)
    print(f"{args.family} stream seed {args.seed}, environment {fam.default_environment}, "
          f"{args.frames} frames ({frames[0].n_devices} devices, {frames[0].n_layers} layers); "
          f"dp optimum per frame: median {1e3 * statistics.median(dp_times):.2f} ms")
    blocks = max(1, args.frames // 10)
    curves = {}
    header = (f"{'solver':10s} {'first ' + str(blocks):>10s} {'final ' + str(args.window):>10s} "
              f"{'decide ms':>10s} {'learn ms':>9s} {'wall ms/frame':>14s}")
    rows = []
    for name in [s.strip() for s in args.solvers.split(",") if s.strip()]:
        pairs = [p.split(":", 1)[1] for p in args.param if p.startswith(name + ":")]
        params = parse_params(resolve(name), pairs)
        ratios, lat, learn_t, wall = run_learner(name, params, frames, opt, 0)
        curves[name] = ratios
        curve = [float(ratios[i:i + blocks].mean()) for i in range(0, len(ratios), blocks)]
        rows.append((name, curve))
        print(f"{name}: learning curve (mean ratio per {blocks} frames): "
              + " ".join(f"{c:.3f}" for c in curve))
        print(header)
        print(f"{name:10s} {ratios[:blocks].mean():>10.4f} {ratios[-args.window:].mean():>10.4f} "
              f"{1e3 * statistics.median(lat):>10.2f} {1e3 * statistics.median(learn_t):>9.2f} "
              f"{1e3 * wall / len(frames):>14.2f}")
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["frame", "optimum", *curves])
            for k in range(len(frames)):
                w.writerow([k, repr(float(opt[k])), *(repr(float(curves[n][k])) for n in curves)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
