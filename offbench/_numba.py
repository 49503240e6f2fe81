"""The one place where Numba options are set.

Every kernel in offbench is compiled with :func:`jit` (serial) or :func:`pjit` (parallel over
the outer loop). ``cache=True`` writes compiled machine code beside the sources (or under
``NUMBA_CACHE_DIR``) so that a second process answers without compiling. ``fastmath`` stays off:
the cost model must agree with the plain-Python reference of SPEC.md to 1e-12.

Set ``NUMBA_DISABLE_JIT=1`` to run every kernel as plain Python (for coverage or debugging).
"""

from __future__ import annotations

import numba

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
