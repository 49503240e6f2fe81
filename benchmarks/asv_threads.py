"""asv: all cores (issue 9, item 5): exhaustive and evaluate_many on 1 and 2 threads.

``track_speedup`` is the ratio of one thread's time to two threads', measured in one call with
the two counts interleaved (medians of 5 each), so a change that loses the scaling shows up
even where the absolute times move with the machine. On a one-core machine the two-thread
cases are skipped. The answers for every thread count are checked equal in ``setup``.
"""

import statistics
import time

import numpy as np

from offbench._numba import max_threads
from offbench.cost import evaluate_many
from offbench.discovery import resolve
from offbench.generators import random_instance


def _instance():
    # 15 layers in 4 jobs of 3 or 4, with capacities and deadlines (every step prices them)
    return random_instance(14, n_devices=3, n_jobs=4, layers=(3, 4), capacities=True,
                           deadlines=True)


class Threads:
    params = (["exhaustive", "evaluate_many"], [1, 2])
    param_names = ["kernel", "threads"]
    timeout = 120

    def setup(self, kernel, threads):
        if threads > max_threads():
            raise NotImplementedError("fewer cores than threads")
        self.inst = _instance()
        self.solver = resolve("exhaustive")(max_layers=self.inst.n_layers)
        self.X = np.random.default_rng(0).integers(0, 3, (1 << 18, self.inst.n_layers),
                                                   dtype=np.int8)
        if kernel == "exhaustive":
            a = self.solver.solve(self.inst, threads=1)
            b = self.solver.solve(self.inst, threads=threads)
            assert a.status == b.status == "optimal"
            assert a.cost == b.cost and np.array_equal(a.decision, b.decision)
        else:
            assert np.array_equal(evaluate_many(self.inst, self.X, threads=1),
                                  evaluate_many(self.inst, self.X, threads=threads))

    def _run(self, kernel, threads):
        if kernel == "exhaustive":
            self.solver.solve(self.inst, threads=threads)
        else:
            evaluate_many(self.inst, self.X, threads=threads)

    def time_kernel(self, kernel, threads):
        self._run(kernel, threads)

    def track_speedup(self, kernel, threads):
        """One thread's median time over ``threads`` threads', interleaved."""
        times = {1: [], threads: []}
        for _ in range(5):
            for th in times:
                t0 = time.perf_counter()
                self._run(kernel, th)
                times[th].append(time.perf_counter() - t0)
        return statistics.median(times[1]) / statistics.median(times[threads])

    track_speedup.unit = "x one thread"
