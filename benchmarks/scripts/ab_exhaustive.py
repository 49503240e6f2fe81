"""Exhaustive search's walk, one kernel against another in one process: CPU time per placement.

Run:  python benchmarks/scripts/ab_exhaustive.py --old /path/to/checkout [--sizes 12,14,16]
                                                 [--repeats 9]

``--old`` is another checkout of offbench (for instance ``git worktree add /tmp/old 1d281b6``);
its ``solvers/exhaustive.py`` is loaded beside this tree's (both price with this tree's
``offbench.cost``). For each size, on the bench_exact instance (capacities and deadlines: the
full model), one thread walks every block with each kernel's ``_walk_worker``, without a bound;
the two runs alternate, ``--repeats`` times, and the medians of CPU time
(``time.process_time``) per placement are printed with their ratio. Every block's outputs (best
cost and placement, placements visited, exact evaluations) must be identical (checked), so the
two kernels give the same answer. CPU time, not wall time: on a loaded machine the wall time
includes the waits for a core.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_exact import exhaustive_instance  # noqa: E402
from offbench.cost import tables  # noqa: E402
import offbench_solvers.exhaustive as new_mod  # noqa: E402


def load_old(checkout: str):
    path = Path(checkout) / "solvers" / "exhaustive.py"
    spec = importlib.util.spec_from_file_location("old_exhaustive", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["old_exhaustive"] = mod         # Numba's cache needs the module importable
    spec.loader.exec_module(mod)
    return mod


def walker(mod, t, n):
    """A function that walks every block of an ``n``-layer instance with ``mod``'s kernel."""
    low = new_mod.block_split(n)
    m = 3 ** (n - low)
    takes_walk = "walk" in inspect.signature(mod._walk_worker.py_func).parameters

    def run():
        out = (np.empty(m), np.zeros((m, n), dtype=np.int8), np.empty(m, dtype=np.int64),
               np.empty(m, dtype=np.int64))
        extra = ((mod.walk_tables(t, low, mod.CHAIN_MIN_LAYERS),) if takes_walk else ())
        mod._walk_worker(t, low, 0, m, np.inf, min(mod.RESYNC_DIGIT, low), *out,
                         np.zeros(1, dtype=np.int64), *extra)
        return out
    return run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="another offbench checkout")
    ap.add_argument("--sizes", default="12,14,16")
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args(argv)
    old_mod = load_old(args.old)
    from offbench._numba import set_num_threads
    set_num_threads(1)
    for n in [int(s) for s in args.sizes.split(",")]:
        t = tables(exhaustive_instance(n))
        runs = {"old": walker(old_mod, t, n), "new": walker(new_mod, t, n)}
        a, b = runs["old"](), runs["new"]()     # compiles; the same answer, block by block
        for u, v in zip(a, b):
            assert np.array_equal(u, v), "the kernels disagree"
        ns = {k: [] for k in runs}
        for _ in range(args.repeats):
            for k, fn in runs.items():
                c0 = time.process_time()
                fn()
                ns[k].append((time.process_time() - c0) / 3 ** n * 1e9)
        mo, mn = statistics.median(ns["old"]), statistics.median(ns["new"])
        print(f"n={n} (3^{n}={3 ** n:.3g}): CPU per placement, median of {args.repeats}: "
              f"old {mo:.2f} ns ({1e9 / mo:.3g}/s), new {mn:.2f} ns ({1e9 / mn:.3g}/s), "
              f"x{mo / mn:.2f}; blocks identical", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
