"""Process guards around a solve: standard output kept for the program's own answer, and a
user's Ctrl-C told apart from a solver's own ``KeyboardInterrupt``.

Both are process-wide (file descriptors, the SIGINT handler), so they live in one place that
:meth:`offbench.solver.Solver.solve`, the MILP back ends and the command line share.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading


_REDIRECT_LOCK = threading.Lock()
_REDIRECT = {"depth": 0, "saved": None}


@contextlib.contextmanager
def stdout_to_stderr():
    """Send what is written to file descriptor 1 (by Python after a flush, or by native code: a
    MILP back end's banner) to descriptor 2 while a solver runs.

    Standard output may carry a program's JSON (``offbench solve``, ``offbench run --jsonl``, in
    this process or in a worker whose descriptors are the parent's), so a solver never writes
    there. The redirection is process-wide: concurrent solves in threads share it (the first in
    redirects, the last out restores), and output of other threads during a solve goes to
    standard error too.
    """
    with _REDIRECT_LOCK:
        if _REDIRECT["depth"] == 0:
            try:
                sys.stdout.flush()
            except (OSError, ValueError, AttributeError):
                pass
            try:
                saved = os.dup(1)
                os.dup2(2, 1)
            except OSError:  # no descriptors 1 and 2 (a daemon): nothing to guard
                saved = None
            _REDIRECT["saved"] = saved
        _REDIRECT["depth"] += 1
    try:
        yield
    finally:
        with _REDIRECT_LOCK:
            _REDIRECT["depth"] -= 1
            if _REDIRECT["depth"] == 0 and _REDIRECT["saved"] is not None:
                try:
                    sys.stdout.flush()  # what the solver printed goes where it was redirected
                except (OSError, ValueError, AttributeError):
                    pass
                os.dup2(_REDIRECT["saved"], 1)
                os.close(_REDIRECT["saved"])
                _REDIRECT["saved"] = None


#: Set when the user presses Ctrl-C (SIGINT) during a solve: a KeyboardInterrupt then stops the
#: caller, while one that a solver raises itself is that solver's error row.
SIGINT = threading.Event()


def on_sigint(signum, frame):
    SIGINT.set()
    raise KeyboardInterrupt


def watch_sigint() -> None:
    """Install :func:`on_sigint` in place of Python's default SIGINT handler (same behaviour,
    plus the flag), once, from the main thread; clear the flag for the solve that starts."""
    SIGINT.clear()
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                signal.signal(signal.SIGINT, on_sigint)
        except (ValueError, OSError):  # not the main interpreter
            pass
