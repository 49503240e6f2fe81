"""The one place where Numba options are set.

Every kernel in offbench is compiled with :func:`jit` (serial) or :func:`pjit` (parallel over
the outer loop). ``cache=True`` writes compiled machine code beside the sources (or under
``NUMBA_CACHE_DIR``) so that a second process answers without compiling. ``fastmath`` stays off:
the cost model must agree with the plain-Python reference of SPEC.md to 1e-12.

Set ``NUMBA_DISABLE_JIT=1`` to run every kernel as plain Python (for coverage or debugging).
:func:`numba_threads` runs parallel kernels on a given number of threads (the ``threads``
keyword of :func:`offbench.evaluate_many` and of solvers such as exhaustive).

Parallel kernels share work through a queue, not a fixed split. ``prange`` hands each thread an
equal, fixed share of the iterations, so a parallel call lasts as long as its slowest thread:
the one woken last (a sleeping worker thread takes from tens of microseconds on a quiet machine
to milliseconds on a busy one to start), or one that the OS preempts. offbench's parallel
kernels therefore start one *worker* per thread (``prange`` over the threads), and each worker
takes the next piece of work (a block of placements, a chunk of rows) from a shared counter with
:func:`fetch_add`, an atomic add, until none is left: a thread that starts late or is preempted
simply does fewer pieces. Each piece writes its own outputs only, so the results do not depend
on which thread did which piece, nor on how many threads there were.

Cache invalidation. Numba invalidates a cached kernel when *its own* source file changes, not
when a kernel it calls does (a solver's kernel calling ``offbench.cost.apply_move`` would keep
stale machine code after ``cost.py`` changes). So, unless ``NUMBA_CACHE_DIR`` is set, the cache
lives in ``$XDG_CACHE_HOME/offbench/numba/<key>`` (default ``~/.cache``), where the key hashes the
offbench version and the sources of ``offbench`` and ``solvers``: any change there starts a
fresh cache. A cache folder that cannot be written falls back, with a warning, to one in the
temporary directory, and then to no cache at all (never to kernels that fail to load).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import numba
from numba import types
from numba.extending import intrinsic, overload


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


def _warn(message: str) -> None:
    """One line on standard error (standard output may be a program's JSON)."""
    sys.stderr.write(f"offbench: warning: {message}\n")


def _writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
        return True
    except (OSError, ValueError):
        return False


def _configure_cache() -> None:
    """Point Numba's cache at a folder it can write: ``NUMBA_CACHE_DIR``, else the keyed folder
    under ``$XDG_CACHE_HOME``; when that cannot be written, a keyed folder in the temporary
    directory (with a warning); when nothing can, no cache (with a warning): every process then
    compiles the kernels, but nothing fails to load."""
    user = os.environ.get("NUMBA_CACHE_DIR")
    if user:
        if _writable_dir(Path(user)):
            return
        tried = f"NUMBA_CACHE_DIR={user}"
    else:
        try:
            base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        except RuntimeError:  # no home directory
            base = Path(tempfile.gettempdir())
        path = base / "offbench" / "numba" / _source_key()
        if _writable_dir(path):
            numba.config.CACHE_DIR = str(path)
            return
        tried = str(path)
    uid = getattr(os, "getuid", lambda: "user")()
    fallback = Path(tempfile.gettempdir()) / f"offbench-numba-{uid}" / _source_key()
    if _writable_dir(fallback):
        _warn(f"cannot write the Numba cache at {tried}; using {fallback}")
        numba.config.CACHE_DIR = str(fallback)
        return
    _warn(f"cannot write the Numba cache at {tried} nor at {fallback}; kernels are compiled "
          "in every process and not cached")
    OPTIONS["cache"] = False


OPTIONS = {"cache": True, "fastmath": False, "nogil": True, "error_model": "numpy"}

_configure_cache()


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


@intrinsic
def _atomic_fetch_add(typingctx, counter, value):
    """LLVM ``atomicrmw add`` on ``counter[0]`` (int64); returns the value before the add."""
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64
            and isinstance(value, types.Integer)):
        return None
    sig = types.int64(counter, value)

    def codegen(context, builder, signature, args):
        ary, val = args
        arr = context.make_array(signature.args[0])(context, builder, ary)
        val = context.cast(builder, val, signature.args[1], types.int64)
        # "monotonic" suffices: the counter only hands out distinct indices; what the pieces
        # write is published to the caller by the join at the end of the parallel region.
        return builder.atomic_rmw("add", arr.data, val, "monotonic")

    return sig, codegen


def fetch_add(counter, value):
    """Add ``value`` to ``counter[0]`` (an int64 array) and return the value it had before,
    atomically in compiled code: the shared work queue of a parallel kernel (see the module
    docstring). Plain Python (``NUMBA_DISABLE_JIT=1``) runs this serial version."""
    old = int(counter[0])
    counter[0] += value
    return old


@overload(fetch_add)
def _fetch_add_compiled(counter, value):
    def impl(counter, value):
        return _atomic_fetch_add(counter, value)
    return impl


def workers(pieces: int) -> int:
    """How many workers a parallel kernel should start for ``pieces`` pieces of work: one per
    thread it may use (``numba.get_num_threads()``), at most one per piece."""
    return max(1, min(int(pieces), numba.get_num_threads()))


def set_num_threads(n: int) -> None:
    """Limit the threads that parallel kernels use (``numba.set_num_threads``)."""
    numba.set_num_threads(int(n))


def max_threads() -> int:
    """The most threads a parallel kernel may use here (Numba's pool: ``NUMBA_NUM_THREADS``,
    by default the number of cores)."""
    return int(numba.config.NUMBA_NUM_THREADS)


def check_threads(threads, what: str = "threads") -> int:
    """``threads`` as an int in ``[1, max_threads()]``, or ValueError with a message that says
    what is wrong and how to get more."""
    if isinstance(threads, bool) or not isinstance(threads, (int,)) or threads < 1:
        raise ValueError(f"{what} must be an int >= 1, got {threads!r}")
    if threads > max_threads():
        raise ValueError(f"{what}={threads} is more than the {max_threads()} threads Numba "
                         "started with (set NUMBA_NUM_THREADS before offbench is imported to "
                         "allow more)")
    return int(threads)


@contextlib.contextmanager
def numba_threads(threads: int):
    """Run the parallel kernels called inside on ``threads`` threads (of this Python thread;
    the previous number is restored after)."""
    n = check_threads(threads)
    prev = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(prev)
