"""Batch evaluation throughput: the Numba kernel against numpy and the plain-Python reference.

Run:  python benchmarks/scripts/bench_cost.py [--jobs 10] [--layers 20] [--batch 50000] [--repeats 7]
      [--dag-jobs 10] [--dag-batch 10000] [--dag-only]

Prints layer-decisions per second (median of the repeats) for

* ``numba-1``: ``offbench.evaluate_many(..., parallel=False)`` on one thread (one core);
* ``numba-N``: the parallel kernel on all of Numba's threads;
* ``numpy``:   a plain numpy implementation vectorized over layers and decisions (fancy
  indexing into the same coefficient tables);
* ``python``:  the plain-Python reference of SPEC.md (tests/reference_model.py), on a small batch;

and the ratios to numpy measured in the same run. Every implementation's costs are checked
against the Numba kernel before anything is timed.

Then DAG jobs against chains (SPEC.md section 7; issue 15's goal: at least half the chain
kernel's layer-decisions per second on one core). Two DAG workloads over the same system, ops
and sizes as a chain instance of ``--dag-jobs`` jobs, each timed alternately with the chain
instance on one thread (``threads=1``), reporting the median of the per-pair ratios:

* ``resnet18-like``: each job is a per-layer ResNet-18 graph (stem, eight basic blocks of
  conv-bn-relu-conv-bn-add-relu with the skip connection into the add and three downsample
  branches, head): 69 nodes, 77 edges, no edge messages, as the zoo's DAG DNNs are;
* ``workflow-like``: random workflow DAGs of 20 tasks (each pair ``u < v`` an edge with
  probability 0.3, every edge with its own message), as in MRLCO's data set.

The DAG costs are checked against the plain-Python section-7 reference of
``tests/test_dag_model.py`` first. ``--dag-only`` runs this comparison alone. Measured on the
loaded 2-core development machine (load average 5-7, medians of 15 pairs), resnet18-like
0.64-0.69 and workflow-like 0.32-0.34 (they were 0.46-0.49 and 0.24-0.27 before the kernels'
successor lists and flat tables, ``offbench/_dag_kernels.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numba  # noqa: E402

from offbench.cost import evaluate_many, tables  # noqa: E402
from offbench.generators import random_instance  # noqa: E402
from tests import reference_model  # noqa: E402


def numpy_costs(inst, X: np.ndarray) -> np.ndarray:
    """Costs of a batch with numpy only (vectorized over layers and rows)."""
    t = tables(inst)
    m, n = X.shape
    Xi = X.astype(np.intp)
    lin = t.comp_c[np.arange(n), Xi].sum(axis=1)            # (m,)
    times = t.comp_t[np.arange(n), Xi]                      # (m, n)
    # Tier before each boundary and after it; the device (0) closes each chain.
    nj = inst.n_jobs
    nb = n + nj
    prev = np.zeros((m, nb), dtype=np.intp)
    nxt = np.zeros((m, nb), dtype=np.intp)
    layer_pos = np.arange(n) + inst.layer_job            # boundary into each layer
    nxt[:, layer_pos] = Xi
    prev[:, layer_pos + 1] = Xi
    idx = 3 * prev + nxt
    lin += t.tr_c[np.arange(nb), idx].sum(axis=1)
    if np.any(t.job_tw > 0):
        bjob = np.repeat(np.arange(nj), inst.layers_per_job + 1)
        tr_times = t.tr_t[np.arange(nb), idx]
        T = np.zeros((m, nj))
        np.add.at(T.T, inst.layer_job, times.T)
        np.add.at(T.T, bjob, tr_times.T)
        lin += (t.job_tw * np.maximum(0.0, T - np.where(np.isfinite(t.job_dl), t.job_dl, np.inf))).sum(axis=1)
    return lin


def timeit(fn, repeats):
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=10)
    ap.add_argument("--layers", type=int, default=20)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--python-batch", type=int, default=200)
    ap.add_argument("--dag-jobs", type=int, default=10,
                    help="jobs of the DAG-vs-chain comparison (0: skip it)")
    ap.add_argument("--dag-batch", type=int, default=10_000)
    ap.add_argument("--dag-only", action="store_true", help="only the DAG-vs-chain comparison")
    args = ap.parse_args(argv)
    if args.dag_only:
        return dag_vs_chain(args)

    inst = random_instance(0, n_jobs=args.jobs, layers=(args.layers, args.layers),
                           capacities=True, deadlines=True)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, (args.batch, inst.n_layers)).astype(np.int8)
    work = X.size
    threads = numba.get_num_threads()

    ref = evaluate_many(inst, X[:2000], parallel=False)  # also compiles
    evaluate_many(inst, X[:10], parallel=True)
    assert np.allclose(numpy_costs(inst, X[:2000]), ref, rtol=1e-12, atol=0)
    d = inst.to_dict()
    py = np.array([reference_model.evaluate(d, x.tolist())["cost"] for x in X[:50]])
    assert np.allclose(py, ref[:50], rtol=1e-12, atol=0)

    rows = []
    t1 = timeit(lambda: evaluate_many(inst, X, parallel=False), args.repeats)
    rows.append(("numba-1 (one core)", work / t1))
    tN = timeit(lambda: evaluate_many(inst, X, parallel=True), args.repeats)
    rows.append((f"numba-{threads} (parallel)", work / tN))
    Xn = X[: max(1, args.batch // 5)]
    tn = timeit(lambda: numpy_costs(inst, Xn), max(3, args.repeats // 2))
    rows.append(("numpy (vectorized)", Xn.size / tn))
    Xp = X[: args.python_batch]
    tp = timeit(lambda: [reference_model.evaluate(d, x.tolist()) for x in Xp], 3)
    rows.append(("python (reference)", Xp.size / tp))

    numpy_rate = rows[2][1]
    print(f"instance: {inst.n_jobs} jobs x {args.layers} layers = {inst.n_layers} layers, "
          f"capacities and deadlines on; batch {args.batch} decisions; median of {args.repeats}")
    print(f"{'implementation':<24} {'layer-decisions/s':>18} {'x numpy':>9}")
    for name, rate in rows:
        print(f"{name:<24} {rate:>18.3e} {rate / numpy_rate:>9.1f}")
    if args.dag_jobs:
        dag_vs_chain(args)
    return rows


def resnet18_edges() -> tuple[int, list]:
    """A per-layer ResNet-18 graph (1-based edges): stem conv, bn, relu, maxpool; eight basic
    blocks conv-bn-relu-conv-bn-add-relu, the skip into the add (through a downsample conv-bn
    in the first block of stages 2-4); head avgpool, flatten, fc."""
    edges = []
    n = 0

    def node(*preds):
        nonlocal n
        n += 1
        edges.extend([p, n] for p in preds)
        return n

    x = node()
    for _ in range(3):
        x = node(x)
    for block in range(8):
        a = node(x)
        a = node(a)
        a = node(a)
        a = node(a)
        a = node(a)
        skip = x
        if block in (2, 4, 6):
            skip = node(node(x))
        x = node(node(a, skip))
    for _ in range(3):
        x = node(x)
    return n, edges


def _as_dag(chain, make_edges, seed):
    """The chain instance's system, ops and sizes, each job rewired as the DAG of make_edges."""
    from offbench import Instance

    rng = np.random.default_rng(seed)
    d = chain.to_dict()
    d["version"] = 2
    for job in d["jobs"]:
        bits = job.pop("bits")
        L = len(job["ops"])
        edges, msgs = make_edges(L, rng)
        job["edges"] = edges
        job["in_bits"] = bits[0]
        job["out_bits"] = [0.0] * L if msgs else bits[1:]
        if msgs:
            for e in edges:
                e.append(float(bits[e[0]]))
    return Instance.from_dict(d)


def _workflow_edges(L, rng):
    return [[u, v] for u in range(1, L + 1) for v in range(u + 1, L + 1) if rng.random() < 0.3], True


def dag_vs_chain(args):
    from offbench.generators import random_instance
    from tests.test_dag_model import reference_dag

    n_res, res_edges = resnet18_edges()
    work = (("resnet18-like", n_res, lambda L, rng: ([list(e) for e in res_edges], False)),
            ("workflow-like", 20, _workflow_edges))
    print(f"\nDAG jobs against chains of the same sizes: {args.dag_jobs} jobs, capacities and "
          f"deadlines on, one thread, batch {args.dag_batch}; median of {args.repeats} "
          f"alternating pairs")
    print(f"{'workload':<16} {'nodes':>6} {'edges':>6} {'chain ld/s':>12} {'DAG ld/s':>12} "
          f"{'DAG / chain':>12}")
    out = {}
    for name, L, make in work:
        chain = random_instance(1, n_jobs=args.dag_jobs, layers=(L, L), capacities=True,
                                deadlines=True)
        dag = _as_dag(chain, make, 1)
        X = np.random.default_rng(1).integers(0, 3, (args.dag_batch, dag.n_layers)).astype(np.int8)
        got = evaluate_many(dag, X[:20], threads=1)
        d = dag.to_dict()
        want = np.array([reference_dag(d, x.tolist())["cost"] for x in X[:20]])
        assert np.allclose(got, want, rtol=1e-9, atol=0), "DAG kernel disagrees with the reference"
        evaluate_many(chain, X[:20], threads=1)
        ratios, rc, rd = [], [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            evaluate_many(chain, X, threads=1)
            tc = time.perf_counter() - t0
            t0 = time.perf_counter()
            evaluate_many(dag, X, threads=1)
            td = time.perf_counter() - t0
            ratios.append(tc / td)
            rc.append(X.size / tc)
            rd.append(X.size / td)
        med = statistics.median(ratios)
        print(f"{name:<16} {L:>6} {dag.n_edges // args.dag_jobs:>6} "
              f"{statistics.median(rc):>12.3e} {statistics.median(rd):>12.3e} {med:>12.2f}")
        out[name] = med
    return out


if __name__ == "__main__":
    main()
