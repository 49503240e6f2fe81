"""Batch evaluation throughput: the Numba kernel against numpy and the plain-Python reference.

Run:  python benchmarks/scripts/bench_cost.py [--jobs 10] [--layers 20] [--batch 50000] [--repeats 7]

Prints layer-decisions per second (median of the repeats) for

* ``numba-1``: ``offbench.evaluate_many(..., parallel=False)`` on one thread (one core);
* ``numba-N``: the parallel kernel on all of Numba's threads;
* ``numpy``:   a plain numpy implementation vectorized over layers and decisions (fancy
  indexing into the same coefficient tables);
* ``python``:  the plain-Python reference of SPEC.md (tests/reference_model.py), on a small batch;

and the ratios to numpy measured in the same run. Every implementation's costs are checked
against the Numba kernel before anything is timed.
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
    args = ap.parse_args(argv)

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
    return rows


if __name__ == "__main__":
    main()
