"""asv: the cost model (one decision, a batch, the O(1) move; DAG jobs beside chains), and
instance I/O.

Each timed body's answer is checked once in ``setup`` against the plain-Python reference.
"""

import numpy as np

from offbench import Instance, evaluate, evaluate_many
from offbench.cost import MoveState
from offbench.generators import random_instance


class BatchEvaluation:
    params = ([10, 100], [8, 50], [1_000, 100_000])
    param_names = ["jobs", "layers", "batch"]

    def setup(self, jobs, layers, batch):
        # At most 5e7 layer decisions (50 MB of int8, drawn as int8: never an int64 copy);
        # the largest case (100 x 50 x 100,000) would be 500 MB and is skipped.
        if jobs * layers * batch > 5e7:
            raise NotImplementedError("too large for a benchmark run")
        self.inst = random_instance(0, n_jobs=jobs, layers=(layers, layers), capacities=True,
                                    deadlines=True)
        rng = np.random.default_rng(0)
        self.X = rng.integers(0, 3, (batch, self.inst.n_layers), dtype=np.int8)
        got = evaluate_many(self.inst, self.X[:5], parallel=False)
        want = [evaluate(self.inst, x).cost for x in self.X[:5]]
        assert np.allclose(got, want, rtol=1e-12, atol=0)

    def time_serial(self, jobs, layers, batch):
        evaluate_many(self.inst, self.X, parallel=False)

    def time_parallel(self, jobs, layers, batch):
        evaluate_many(self.inst, self.X, parallel=True)

    def track_layer_decisions_per_second_serial(self, jobs, layers, batch):
        import time

        t0 = time.perf_counter()
        evaluate_many(self.inst, self.X, parallel=False)
        return self.X.size / (time.perf_counter() - t0)

    track_layer_decisions_per_second_serial.unit = "layer-decisions/s"


class SingleEvaluation:
    def setup(self):
        self.inst = random_instance(1, n_jobs=20, layers=(10, 10), capacities=True, deadlines=True)
        self.x = np.random.default_rng(1).integers(0, 3, self.inst.n_layers)
        evaluate(self.inst, self.x)

    def time_evaluate(self):
        evaluate(self.inst, self.x)


class Moves:
    def setup(self):
        self.inst = random_instance(2, n_jobs=20, layers=(10, 10), capacities=True, deadlines=True)
        self.state = MoveState(self.inst)
        self.state.delta(0, 1)

    def time_delta(self):
        self.state.delta(5, 2)


class DagBatchEvaluation:
    """DAG jobs (SPEC.md section 7) against chains of the same sizes, on one thread: per-layer
    ResNet-18-like graphs (``benchmarks/scripts/bench_cost.py``, where the ratio is measured)."""

    params = (["chain", "resnet18-like", "workflow-like"],)
    param_names = ["kind"]

    def setup(self, kind):
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parent / "scripts"))
        import bench_cost

        n, edges = bench_cost.resnet18_edges()
        L = 20 if kind == "workflow-like" else n
        chain = random_instance(1, n_jobs=10, layers=(L, L), capacities=True, deadlines=True)
        if kind == "chain":
            self.inst = chain
        elif kind == "resnet18-like":
            self.inst = bench_cost._as_dag(chain, lambda L, rng: ([list(e) for e in edges], False), 1)
        else:
            self.inst = bench_cost._as_dag(chain, bench_cost._workflow_edges, 1)
        self.X = np.random.default_rng(1).integers(0, 3, (5_000, self.inst.n_layers), dtype=np.int8)
        got = evaluate_many(self.inst, self.X[:5], threads=1)
        want = [evaluate(self.inst, x).cost for x in self.X[:5]]
        assert np.allclose(got, want, rtol=1e-12, atol=0)
        self.state = MoveState(self.inst)
        self.state.delta(0, 1)

    def time_serial(self, kind):
        evaluate_many(self.inst, self.X, threads=1)

    def track_layer_decisions_per_second_serial(self, kind):
        import time

        t0 = time.perf_counter()
        evaluate_many(self.inst, self.X, threads=1)
        return self.X.size / (time.perf_counter() - t0)

    track_layer_decisions_per_second_serial.unit = "layer-decisions/s"

    def time_delta(self, kind):
        self.state.delta(30, 2)


class InstanceIO:
    params = [10, 1000]
    param_names = ["jobs"]

    def setup(self, jobs):
        self.inst = random_instance(3, n_jobs=jobs, layers=(10, 20))
        self.text = self.inst.to_json()
        self.npz = self.inst.to_npz_bytes()

    def time_from_json(self, jobs):
        Instance.from_json(self.text)

    def time_from_npz(self, jobs):
        Instance.from_npz_bytes(self.npz)

    def time_build_tables(self, jobs):
        from offbench.cost import build_tables

        build_tables(self.inst)

    def peakmem_tables(self, jobs):
        from offbench.cost import build_tables

        build_tables(self.inst)
