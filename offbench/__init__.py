"""offbench: a benchmark suite for DNN task-offloading algorithms.

The stable Python API (SPEC.md section 5)::

    import offbench
    inst = offbench.load_instance("x.json")            # or offbench.Instance.from_json(text)
    ev = offbench.evaluate(inst, decision)              # .cost .feasible .load .jobs
    costs = offbench.evaluate_many(inst, X)             # X: int8 (m, n_layers) -> float64 (m,)
    res = offbench.solve(inst, "milp", time_limit=10)   # .status .decision .cost .bound .wall_time
    summary = offbench.run("spec.toml", store="out/results.sqlite")   # a benchmark (None: built-in)
    res = offbench.results.load("out/results.sqlite")  # .results .frames .sources DataFrames
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import DecisionError, InstanceError, UserError
from .instance import Instance, load_instance, save_instance

__all__ = [
    "__version__", "Instance", "load_instance", "save_instance", "evaluate", "evaluate_many",
    "solve", "run", "results", "UserError", "InstanceError", "DecisionError",
]


def __getattr__(name):
    # Lazy: importing offbench does not compile or import numba until a cost is asked for.
    if name in ("evaluate", "evaluate_many"):
        from . import cost

        return getattr(cost, name)
    if name == "solve":
        from .discovery import solve

        return solve
    if name in ("run", "results"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'offbench' has no attribute {name!r}")
