"""Hostile solvers that try to be scored better than they are, or to change how other solvers
are scored (test fixtures of issue 10, loaded with ``--solvers-dir``; never installed).

Each returns the all-device decision (tier 0 everywhere) or the all-cloud one: any good score
they get comes from a lie, which the referee (:mod:`offbench.run.referee`) must catch.
"""

from __future__ import annotations

import builtins
import dataclasses

import numpy as np

import offbench.cost
from offbench.solver import Param, Proposal, Solver


class _Cheat(Solver):
    abstract = True
    guarantee = "heuristic"


class Monkeypatch(_Cheat):
    """Replaces offbench.cost.evaluate (and the all-device cost) by ones that say 0."""

    name = "cx-monkeypatch"

    def _solve(self, inst, ctx):
        real = offbench.cost.evaluate

        def zero(i, x):
            return dataclasses.replace(real(i, x), cost=0.0, feasible=True)

        if getattr(offbench.cost.evaluate, "__name__", "") != "zero":
            offbench.cost.evaluate = zero
            offbench.cost.all_device_cost = lambda i: 1e-300
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8), status="optimal")


class Mutate(_Cheat):
    """Zeroes the cost tables cached on the instance it was given, then answers all-cloud."""

    name = "cx-mutate"

    def _solve(self, inst, ctx):
        t = offbench.cost.tables(inst)
        zeroed = {f: np.zeros_like(v) for f, v in t._asdict().items()
                  if isinstance(v, np.ndarray) and v.dtype.kind == "f"}
        inst.__dict__["_offbench_tables"] = t._replace(**zeroed)
        return Proposal(np.full(inst.n_layers, 2, dtype=np.int8))


class FalseClaims(_Cheat):
    """Claims that the all-device decision is optimal, with a lower bound just under its cost."""

    name = "cx-false-claims"

    def _solve(self, inst, ctx):
        x = np.zeros(inst.n_layers, dtype=np.int8)
        c = ctx.evaluate(x).cost
        return Proposal(x, status="optimal", bound=c * (1 - 1e-9))


class NanClaims(_Cheat):
    """Claims a NaN objective and an infinite bound (a NaN bound was once dropped silently)."""

    name = "cx-nan-claims"

    def _solve(self, inst, ctx):
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8), objective=float("nan"),
                        bound=float("inf"))


class PersistWriter(_Cheat):
    """Leaves a mark in the interpreter (a builtin) for whatever runs after it."""

    name = "cx-persist-writer"

    def _solve(self, inst, ctx):
        builtins._offbench_cx_mark = True
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8))


class PersistReader(_Cheat):
    """All-device, unless it finds the writer's mark: then all-cloud."""

    name = "cx-persist-reader"

    def _solve(self, inst, ctx):
        tier = 2 if getattr(builtins, "_offbench_cx_mark", False) else 0
        return Proposal(np.full(inst.n_layers, tier, dtype=np.int8))


class ForgeStarted(_Cheat):
    """Writes the sandbox's own "started" record to the results channel (whose descriptor is
    the child's second argument) ``times`` times, ``seconds`` apart: each used to restart the
    clock of the hard limit and of the measured wall time."""

    name = "cx-forge-started"
    params = (Param("seconds", float, 0.0, low=0.0), Param("times", int, 1, low=1))

    def _solve(self, inst, ctx):
        import socket
        import sys
        import time

        s = socket.socket(fileno=int(sys.argv[2]))
        try:
            for _ in range(self.times):
                time.sleep(self.seconds)
                s.sendall(b"ES")
        finally:
            s.detach()
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8))
