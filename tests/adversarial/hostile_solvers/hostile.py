"""Hostile and careless solvers (test fixtures, loaded with ``--solvers-dir``; never installed).

Each breaks the solver contract in one way that issue 10 found to escape as a traceback or a
silent exit: the offbench side must turn every one into that solver's ``error`` result.
"""

from __future__ import annotations

import sys

import numpy as np

from offbench.solver import Proposal, Solver


class _Hostile(Solver):
    abstract = True
    guarantee = "heuristic"


class BareArray(_Hostile):
    """Returns the decision array itself, not a Proposal."""

    name = "hx-bare-array"

    def _solve(self, inst, ctx):
        return np.zeros(inst.n_layers, dtype=np.int8)


class ReturnsNone(_Hostile):
    """Returns None."""

    name = "hx-none"

    def _solve(self, inst, ctx):
        return None


class StringObjective(_Hostile):
    """Claims an objective that is a string."""

    name = "hx-string-objective"

    def _solve(self, inst, ctx):
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8), objective="0.0")


class StringBound(_Hostile):
    """Claims a bound that is a string."""

    name = "hx-string-bound"

    def _solve(self, inst, ctx):
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8), bound="0")


class NanObjective(_Hostile):
    """Claims a NaN objective."""

    name = "hx-nan-objective"

    def _solve(self, inst, ctx):
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8), objective=float("nan"))


class ListInfo(_Hostile):
    """Gives a list as ``info``."""

    name = "hx-list-info"

    def _solve(self, inst, ctx):
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8), info=[1, 2])


class Exits(_Hostile):
    """Calls sys.exit inside solve."""

    name = "hx-exit"

    def _solve(self, inst, ctx):
        sys.exit(0)


class Interrupts(_Hostile):
    """Raises KeyboardInterrupt itself (no Ctrl-C was pressed)."""

    name = "hx-interrupt"

    def _solve(self, inst, ctx):
        raise KeyboardInterrupt


class Prints(_Hostile):
    """Writes to standard output, from Python and from the C level."""

    name = "hx-prints"

    def _solve(self, inst, ctx):
        import os

        print("python-level chatter")
        os.write(1, b"c-level chatter\n")
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8))


class Sleeps(_Hostile):
    """Says on stderr that it started, then sleeps (for a real Ctrl-C to arrive inside it)."""

    name = "hx-sleeps"

    def _solve(self, inst, ctx):
        import time

        print("hx-sleeps: started", file=sys.stderr, flush=True)
        time.sleep(60)
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8))


#: Every hostile solver's name, for the tests.
NAMES = [c.name for c in (BareArray, ReturnsNone, StringObjective, StringBound, NanObjective,
                          ListInfo, Exits, Interrupts)]
