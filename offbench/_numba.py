"""The one place where Numba options are set.

Every kernel in offbench is compiled with :func:`jit` (serial) or :func:`pjit` (parallel over
the outer loop). ``cache=True`` writes compiled machine code beside the sources (or under
``NUMBA_CACHE_DIR``) so that a second process answers without compiling. ``fastmath`` stays off:
the cost model must agree with the plain-Python reference of SPEC.md to 1e-12.

Set ``NUMBA_DISABLE_JIT=1`` to run every kernel as plain Python (for coverage or debugging).

Cache invalidation. Numba invalidates a cached kernel when *its own* source file changes, not
when a kernel it calls does (a solver's kernel calling ``offbench.cost.apply_move`` would keep
stale machine code after ``cost.py`` changes). So, unless ``NUMBA_CACHE_DIR`` is set, the cache
lives in ``$XDG_CACHE_HOME/offbench/numba/<key>`` (default ``~/.cache``), where the key hashes the
offbench version and the sources of ``offbench`` and ``solvers``: any change there starts a
fresh cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

import numba


def _source_key() -> str:
    h = hashlib.sha256()
    roots = [Path(__file__).parent]
    spec = importlib.util.find_spec("offbench_solvers")
    if spec is not None and spec.submodule_search_locations:
        roots += [Path(p) for p in spec.submodule_search_locations]
    for root in roots:
        for f in sorted(root.rglob("*.py")):
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _configure_cache() -> None:
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "offbench" / "numba" / _source_key()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # unwritable home: Numba's default locations (beside the sources) are used
    numba.config.CACHE_DIR = str(path)


_configure_cache()

OPTIONS = {"cache": True, "fastmath": False, "nogil": True, "error_model": "numpy"}


def jit(func=None, **extra):
    """``numba.njit`` with offbench's options."""
    kwargs = {**OPTIONS, **extra}
    if func is None:
        return numba.njit(**kwargs)
    return numba.njit(**kwargs)(func)


def pjit(func=None, **extra):
    """``numba.njit(parallel=True)`` with offbench's options; loops use ``numba.prange``."""
    return jit(func, parallel=True, **extra)


prange = numba.prange


def set_num_threads(n: int) -> None:
    """Limit the threads that parallel kernels use (``numba.set_num_threads``)."""
    numba.set_num_threads(int(n))
