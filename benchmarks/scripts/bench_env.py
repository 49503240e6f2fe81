"""Steps per second of the Gymnasium environments (offbench.env), on one core.

Run:  python benchmarks/scripts/bench_env.py [--seconds 2] [--repeats 5]

Prints medians of ``--repeats`` timed runs of ``--seconds`` each, on one core
(``offbench._numba.set_num_threads(1)``; the step kernel is serial anyway):

* **sequential** (``offbench/Placement-v0`` made with ``gymnasium.make``, so Gymnasium's
  wrappers are included) on one dmro-v1 frame (10 devices x 5 layers: 50 steps per episode),
  uniformly random actions drawn beforehand: env steps per second, resets included (a reset of a
  repeated frame reuses its per-frame arrays), and the same on the unwrapped environment;
* **sequential, stream**: the same on the dmro-v1 stream, a fresh frame every episode (the
  reset then draws the frame and computes its features);
* **bandit** (``offbench/PlacementBandit-v0``), one frame: steps (= episodes = decisions) per
  second;
* **DAG frames** (issue 15): the sequential environment on one dmro-v2 frame (10 devices, a
  10-task workflow DAG each: 100 steps, each node's move priced in O(degree) and its
  predecessors' tiers observed) and on one zoo-v2:single frame (a per-layer DNN DAG), and the
  bandit on the dmro-v2 frame.

Goal (issue 11): at least 30,000 sequential steps per second on one core for a dmro-v1 frame.
Before timing, every sequential configuration checks that an episode's return equals the
all-device cost minus the decision's cost (``offbench.evaluate``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import gymnasium as gym  # noqa: E402

import offbench.env  # noqa: E402,F401
from offbench._numba import set_num_threads  # noqa: E402
from offbench.cost import all_device_cost, evaluate  # noqa: E402
from offbench.env import BANDIT_ID, SEQUENTIAL_ID  # noqa: E402
from offbench.families import get_family  # noqa: E402


def check(env, actions) -> None:
    env.reset()
    u = env.unwrapped
    n = u.n_layers
    total = 0.0
    for a in actions[:n]:
        _, r, term, _, info = env.step(int(a))
        total += r
    assert term
    frame = u.frame
    x = np.zeros(n, dtype=np.int8)
    x[u.order] = actions[:n]          # step p places layer order[p]
    want = all_device_cost(frame) - evaluate(frame, x).cost
    if not info["feasible"]:
        want = -u.infeasible_penalty * all_device_cost(frame)
    assert abs(total - want) <= 1e-9 * all_device_cost(frame), (total, want)


def steps_per_second(env, actions, seconds: float) -> float:
    env.reset()
    step = env.step
    reset = env.reset
    n = 0
    i = 0
    m = len(actions)
    t0 = time.perf_counter()
    end = t0 + seconds
    while True:
        for _ in range(1000):
            _, _, term, _, _ = step(actions[i])
            i = i + 1 if i + 1 < m else 0
            if term:
                reset()
        n += 1000
        now = time.perf_counter()
        if now >= end:
            return n / (now - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    set_num_threads(1)
    frame = next(iter(get_family("dmro-v1").stream(0, 1)))
    rng = np.random.default_rng(0)
    seq_actions = [int(a) for a in rng.integers(0, 3, size=50 * 200)]
    bandit_actions = [rng.integers(0, 3, size=frame.n_layers) for _ in range(200)]
    dag = next(iter(get_family("dmro-v2").stream(0, 1)))
    dnn = next(iter(get_family("zoo-v2:single").stream(0, 1)))
    dag_bandit = [rng.integers(0, 3, size=dag.n_layers) for _ in range(200)]

    configs = [
        ("sequential, one frame (gymnasium.make)", gym.make(SEQUENTIAL_ID, instance=frame), seq_actions),
        ("sequential, one frame (unwrapped)", gym.make(SEQUENTIAL_ID, instance=frame).unwrapped, seq_actions),
        ("sequential, dmro-v1 stream (gymnasium.make)", gym.make(SEQUENTIAL_ID, family="dmro-v1", seed=0),
         seq_actions),
        ("bandit, one frame (gymnasium.make)", gym.make(BANDIT_ID, instance=frame), bandit_actions),
        (f"sequential, dmro-v2 DAG frame ({dag.n_layers} nodes, make)", gym.make(SEQUENTIAL_ID, instance=dag),
         seq_actions),
        ("sequential, dmro-v2 DAG frame (unwrapped)", gym.make(SEQUENTIAL_ID, instance=dag).unwrapped,
         seq_actions),
        (f"sequential, zoo-v2 DNN DAG ({dnn.n_layers} nodes, make)", gym.make(SEQUENTIAL_ID, instance=dnn),
         seq_actions),
        ("bandit, dmro-v2 DAG frame (gymnasium.make)", gym.make(BANDIT_ID, instance=dag), dag_bandit),
    ]
    print(f"offbench.env steps per second, one core, median of {args.repeats} x {args.seconds:g} s "
          f"(dmro-v1 frame: {frame.n_devices} devices x {frame.n_layers // frame.n_jobs} layers)")
    for name, env, actions in configs:
        if "sequential" in name:
            check(env, seq_actions)
        steps_per_second(env, actions, 0.2)  # warm
        rates = [steps_per_second(env, actions, args.seconds) for _ in range(args.repeats)]
        print(f"  {name:50s} {statistics.median(rates):>10,.0f} steps/s "
              f"(min {min(rates):,.0f}, max {max(rates):,.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
